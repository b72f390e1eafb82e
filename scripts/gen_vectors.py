#!/usr/bin/env python3
"""Generate the parity vectors under tests/fixtures/parity from the reference store.

The reference package is the oracle: this script calls its own functions and
dumps what they return as gzip-compressed JSON Lines; the Rust tests read them.

Formats:
  v0.1  the installed PyPI package mlflow-dynamodbstore==0.1.0 (project .venv).
  main  dynamodb/fts.py of zeroae/mlflow-dynamodbstore at commit 3ccbc9e. Its
        code is never copied into this repository: it is read from a checkout
        given with --main-src DIR (or env MAIN_REF_SRC), or extracted into a
        temporary directory from a local git mirror, and run in a subprocess
        (so it cannot clash with the installed v0.1 package of the same name).
        Without either source the main vectors are skipped and the committed
        main fixtures are kept.

Usage (from the repository root, see `make vectors`):
  .venv/bin/python scripts/gen_vectors.py [--main-src DIR] [--out DIR]

The output is deterministic: fixed seeds, sorted records, gzip without
timestamps. Running it twice gives byte-identical files.
"""

from __future__ import annotations

import argparse
import ast
import gzip
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "tests" / "fixtures" / "parity"

MAIN_COMMIT = "3ccbc9e2256b026b4386d232fe7b1958c43364ad"
MAIN_SHORT = MAIN_COMMIT[:7]
DEFAULT_MIRROR = Path("/work/.mirror/zeroae+mlflow-dynamodbstore/repo")
# sha256 of dynamodb/fts.py at MAIN_COMMIT: guards against a checkout of
# another commit passed with --main-src.
MAIN_FTS_SHA256 = "bde3cdc78f0ee19d043ddeb23a7755b9a2f52f4e6296eb911490d4c4eab6cd84"
MAIN_SUBDIR = "src/mlflow_dynamodbstore/dynamodb"

EXPECTED_VERSIONS = {
    "mlflow-dynamodbstore": "0.1.0",
    "snowballstemmer": "3.1.1",
}
# The English word pool is read from MLflow's installed source tree, so the
# inputs depend on this version (a different one still works, with a warning,
# but the vectors will differ).
EXPECTED_MLFLOW = "3.17.2"

SEED = 20260121

V01_LEVELS = ["W", "3"]
MAIN_LEVELS = ["W", "3", "2"]

WORD_RE = re.compile(r"[a-z0-9]+")

# ---------------------------------------------------------------------------
# Output helpers
# ---------------------------------------------------------------------------


def dump_line(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"


def write_jsonl_gz(path: Path, records: Iterable[dict[str, Any]]) -> int:
    """Write records as gzip JSON Lines, deterministically (no mtime, no name)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    n = 0
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        for rec in records:
            gz.write(dump_line(rec).encode("utf-8"))
            n += 1
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)
    return n


def count_jsonl_gz(path: Path) -> int:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return sum(1 for _ in f)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------
# Environment checks
# ---------------------------------------------------------------------------


def check_versions() -> dict[str, str]:
    versions = {}
    for dist, want in EXPECTED_VERSIONS.items():
        got = importlib.metadata.version(dist)
        if got != want:
            sys.exit(f"gen_vectors: {dist} is {got}, need {want} (run scripts/venv.sh reference)")
        versions[dist] = got
    versions["mlflow"] = importlib.metadata.version("mlflow")
    if versions["mlflow"] != EXPECTED_MLFLOW:
        print(
            f"gen_vectors: WARNING mlflow is {versions['mlflow']}, the committed vectors "
            f"were drawn from mlflow {EXPECTED_MLFLOW}'s source words; output will differ",
            file=sys.stderr,
        )
    check_pure_stemmer()
    versions["python"] = platform.python_version()
    return versions


def check_pure_stemmer() -> None:
    """snowballstemmer silently uses PyStemmer (C libstemmer) when installed: refuse."""
    import snowballstemmer

    cls = type(snowballstemmer.stemmer("english"))
    if cls.__module__ != "snowballstemmer.english_stemmer":
        sys.exit(f"gen_vectors: english stemmer is {cls.__module__}.{cls.__name__}, "
                 "expected snowballstemmer's pure-Python EnglishStemmer (uninstall PyStemmer)")


# ---------------------------------------------------------------------------
# Input generation (deterministic)
# ---------------------------------------------------------------------------


def mlflow_source_files() -> list[Path]:
    spec = importlib.util.find_spec("mlflow")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("gen_vectors: mlflow is not installed in this interpreter")
    root = Path(list(spec.submodule_search_locations)[0])
    return sorted(root.rglob("*.py"), key=lambda p: p.relative_to(root).as_posix())


class Pools:
    """Word and sentence pools drawn from MLflow's installed source tree."""

    def __init__(self) -> None:
        words: set[str] = set()
        idents: set[str] = set()
        doc_lines: set[str] = set()
        for path in mlflow_source_files():
            text = path.read_text(encoding="utf-8", errors="replace")
            for w in re.findall(r"[A-Za-z]+", text):
                words.add(w.lower())
                for part in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", w):
                    words.add(part.lower())
            idents.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]{2,}", text))
            try:
                tree = ast.parse(text)
            except (SyntaxError, ValueError):
                continue
            for node in ast.walk(tree):
                if isinstance(
                    node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
                ):
                    doc = ast.get_docstring(node, clean=True)
                    if doc:
                        for line in doc.splitlines():
                            line = line.strip()
                            if 12 <= len(line) <= 160:
                                doc_lines.add(line)
        self.words = sorted(words)
        self.idents = sorted(idents)
        self.doc_lines = sorted(doc_lines)


# Inflections that older Snowball versions stem differently, plus common
# English morphology, so the stem table exercises every step of the algorithm.
INFLECTIONS = """
added adding adds organization organizations organizational organize organized organizer
international internationally nationality university universities universal running runs
ran runner generously generous generosity generate generated generating generation
generalization generalizations happily happiness happy relational conditional rational
valenci hesitanci digitizer conformabli radicalli differentli vileli analogousli vietnamization
predication operator feudalism decisiveness hopefulness callousness formaliti sensitiviti
sensibiliti triplicate formative formalize electriciti electrical hopeful goodness revival
allowance inference airliner gyroscopic adjustable defensible irritant replacement adjustment
dependent adoption homologou communism activate angulariti homologous effective bowdlerize
caresses ponies ties caress cats feed agreed plastered bled motoring sing conflated troubled
sized hopping tanned falling hissing fizzed failing filing happy sky skies dying lying tying
news innings outing canning howe proceed exceed succeed herring earring commun communes gener
generic arsenic arsen arsenal past pasts yearly early only singly gently ugly news atlas cosmos
bias andes sky skis idly inning outings cannings herrings earrings proceeding exceeding
succeeding tomorrow yesterday consign consigned consigning consignment consist consisted
consistency consistent consistently consisting consists consolation consolations consolatory
console consoled consoles consolidate consolidated consolidating consoling knack knackeries
knacks knag knave knaves knavish kneaded kneading knee kneel kneeled kneeling kneels knees
knell knelt knew knick knif knife knight knightly knights knit knits knitted knitting knives
knob knobs knock knocked knocker knockers knocking knocks knopp knot knots lay legs said
experiments experimental experimentation experimenting metrics metric logged logging loggers
models modeling modelled modelling registered registering registries registry tracking traces
traced tracing evaluations evaluated evaluating deployed deployment deployments artifacts
parameters parameterized datasets tagging tagged tags running runs searchable searched
""".split()

STOP_WORD_SAMPLE = """a an the this that these those i me my myself we our ours ourselves you
your yours yourself yourselves he him his himself she her hers herself it its itself they them
their theirs themselves what which who whom whose in on at to for of with by from up about into
through during before after above below between under over out off down against until while and
or but nor so yet both either neither not only than when if because as although though be am is
are was were been being has have had having do does did doing will would shall should may might
can could must no very too also just more most now then here there where how all each every any
few some such own same other much many well back even still already get got gets make made let
yes one two""".split()

ADJECTIVES = """bold brave bright calm clever crisp dapper eager fancy gentle glad grand happy
jolly keen kind lively lucky merry mighty neat nimble polite proud quick quiet rare shy silly
smart snappy sturdy sunny swift tidy vast warm wise witty zany amber azure capable classy
colorful debonair delicate dashing""".split()
ANIMALS = """ant ape bass bat bear bee bird boar carp cat cod colt crab crane crow deer doe dog
dove duck eel elk finch fish fox frog gnat goat goose grouse gull hare hawk hen heron horse hound
jay kit koi lamb lark lion loon midge mink mole moose moth mouse mule newt owl ox panda pig
rabbit ram rat robin roo seal shark sheep shrew skink slug snail snake sow squid stag stork swan
toad trout whale wolf worm wren yak zebra""".split()

UNICODE_SAMPLES = [
    "café", "Café", "CAFÉ", "naïve", "naïve bayes", "Straße", "STRASSE", "straße model",
    "İstanbul", "ISTANBUL", "ıstanbul", "DİYARBAKIR", "İ", "İİ", "iİi", "Iİı", "İnt", "İ2",
    "model_İ_v2", "İstanbul-run-7", "ﬁle", "ﬁnal model", "ﬀ ﬃ ﬄ ﬅ ﬆ", "ﬁne-tune", "Ωmega", "ΑΘΗΝΑ",
    "Σίσυφος", "ΟΔΟΣ", "λόγος model", "Москва", "привет мир", "Модель v2", "中文模型",
    "日本語のテキスト", "한국어 모델", "模型 model 42", "😀 emoji run 🚀", "🚀", "🔥🔥🔥",
    "👩‍💻 dev", "🇫🇷 flag", "e\u0301cole", "Cafe\u0301", "n\u0303", "a\u0308bc", "\u0301abc",
    "\u212aelvin", "\u212a", "\u212a8s cluster", "\u212b", "Åström", "Ａｂｃ ｄｅｆ", "ｍｏｄｅｌ１",
    "١٢٣ arabic digits", "²³ superscripts", "x² + y²", "Ⅻ", "ⅻ roman", "ǅ ǆ Ǆ", "ǈ", "ŉ",
    "ẞ capital sharp s", "Ǳ", "ΐ", "ﬓ", "ὒ", "a\u200bb", "zero\u200bwidth", "a\u00a0b",
    "non\u00a0breaking space", "tab\tsep", "new\nline", "cr\r\nlf", "nul\u0000byte", "\u0000",
    "\ufeffbom", "soft\u00adhyphen", "Ünïcödé", "ØRSTED", "Þór", "Łódź", "Ærø", "Œuvre",
    "façade", "jalapeño", "über-model", "Zürich", "São Paulo", "Kraków", "Ελληνικά", "עברית",
    "العربية", "हिन्दी", "ไทย", "ქართული", "Հայերեն", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𝐁𝐨𝐥𝐝", "ⓐⓑⓒ", "Ⓐ",
    "\U0001f600abc\U0001f600def", "abc\u0130def", "ABC\u0130DEF", "x\u0130", "\u0130x",
    "I\u0307", "i\u0307", "TITLE Σ", "ΣΑΣ", "ὈΔΥΣΣΕΎΣ", "ǰ", "ﬀi", "ﬁnancial analysis",
]

NON_ASCII_CHARS = (
    "éèêëàâäôöûüùçñßøåæœÿíóúáÉÈÊËÀÂÄÔÖÛÜÙÇÑØÅÆŒŸÍÓÚÁİıĞğŞşK"
    "ΑΒΓΔΕΖΗΘαβγδεζηθλμπσςωΣΩАБВГДЕЖЗабвгдежзийклмнопрстуфхцчшщыэюя"
    "中文模型日本語한국어ﬁﬂ\u0301\u0308\u0327ＡＢＣａｂｃ１２３😀🚀🔥✨∑∫√≈≠"
)

PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

TAG_KEYS = [
    "mlflow.runName", "mlflow.user", "mlflow.source.name", "mlflow.source.type",
    "mlflow.note.content", "mlflow.parentRunId", "mlflow.log-model.history",
    "team", "env", "owner", "priority", "team.name", "data/path", "data/train/v2",
    "my tag", "  spaced  ", "owner#primary", "a#b#c", "#", "##", "TAG#x", "R#x#TAG#y",
    "key.with.dots", "key/with/slashes", "key-with-dashes", "key_with_underscores",
    "KeyCamelCase", "UPPER", "clé", "ключ", "标签", "タグ", "emoji🚀", "İkey", "ﬁeld",
    "x", "1", "0", "assess_fake", "spans", "artifact_uri", "a b#c/d.e", "tab\tkey",
    "e\u0301", "Σ", "mlflow.*", "[x]", "key?", "key*",
]


class Gen:
    """Deterministic generators of realistic MLflow-ish strings."""

    ULID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"

    def __init__(self, rng: random.Random, pools: Pools) -> None:
        self.rng = rng
        self.pools = pools
        # English-looking words only (letters, 2..14 chars) for sentence building.
        self.eng = [w for w in pools.words if 2 <= len(w) <= 14]

    # -- ids ---------------------------------------------------------------
    def ulid(self) -> str:
        r = self.rng
        return r.choice("01234567") + "".join(r.choice(self.ULID_ALPHABET) for _ in range(25))

    def hex32(self) -> str:
        return "%032x" % self.rng.getrandbits(128)

    def experiment_id(self) -> str:
        r = self.rng.random()
        if r < 0.05:
            return "0"
        if r < 0.25:
            return str(self.rng.randrange(1, 10**18))
        return self.ulid()

    def run_id(self) -> str:
        return self.ulid() if self.rng.random() < 0.7 else self.hex32()

    def trace_id(self) -> str:
        return "tr-" + self.hex32()

    def assessment_id(self) -> str:
        return self.ulid() if self.rng.random() < 0.8 else "a-" + self.hex32()

    # -- words and names -----------------------------------------------------
    def word(self) -> str:
        return self.rng.choice(self.eng)

    def words(self, lo: int, hi: int) -> list[str]:
        return [self.word() for _ in range(self.rng.randint(lo, hi))]

    def sentence(self, lo: int = 3, hi: int = 14) -> str:
        r = self.rng
        ws = self.words(lo, hi)
        for i in range(len(ws)):
            if r.random() < 0.25:
                ws[i] = r.choice(STOP_WORD_SAMPLE)
        s = " ".join(ws)
        if r.random() < 0.5:
            s = s[:1].upper() + s[1:]
        if r.random() < 0.4:
            s += r.choice([".", "!", "?", "...", ";", ":"])
        return s

    def snake(self) -> str:
        return "_".join(self.words(1, 4))

    def camel(self) -> str:
        ws = self.words(1, 4)
        s = "".join(w.capitalize() for w in ws)
        return s if self.rng.random() < 0.6 else s[:1].lower() + s[1:]

    def kebab(self) -> str:
        return "-".join(self.words(1, 4))

    def version(self) -> str:
        r = self.rng
        v = f"{r.randint(0, 20)}.{r.randint(0, 30)}.{r.randint(0, 99)}"
        if r.random() < 0.5:
            v = "v" + v
        if r.random() < 0.3:
            v += r.choice(["-rc1", "-rc2", "-beta", "-alpha.3", ".dev0", "+build.7", "rc10", "-SNAPSHOT"])
        return v

    def date(self) -> str:
        r = self.rng
        y, m, d = r.randint(2015, 2030), r.randint(1, 12), r.randint(1, 28)
        f = r.randrange(5)
        if f == 0:
            return f"{y}-{m:02d}-{d:02d}"
        if f == 1:
            return f"{y}{m:02d}{d:02d}"
        if f == 2:
            return f"{y}-{m:02d}-{d:02d}T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}Z"
        if f == 3:
            return f"{d:02d}/{m:02d}/{y}"
        return f"{y}_{m:02d}_{d:02d}"

    def uri(self) -> str:
        r = self.rng
        scheme = r.choice(["s3://", "gs://", "wasbs://", "dbfs:/", "file:///", "hdfs://", "https://", "runs:/", "models:/", "mlflow-artifacts:/"])
        parts = [r.choice([self.word(), self.kebab(), self.snake(), self.hex32(), self.ulid()]) for _ in range(r.randint(1, 6))]
        s = scheme + "/".join(parts)
        if r.random() < 0.3:
            s += r.choice([".pkl", ".json", ".csv", ".parquet", "/artifacts", "/model.onnx", "?versionId=3", "#frag"])
        return s

    def path(self) -> str:
        r = self.rng
        parts = [r.choice([self.word(), self.snake(), self.kebab(), self.camel()]) for _ in range(r.randint(1, 5))]
        root = r.choice(["/", "./", "../", "~/", "C:\\", "", "/Users/alice@example.com/", "/Workspace/Shared/"])
        sep = "\\" if root == "C:\\" else "/"
        return root + sep.join(parts) + r.choice(["", ".py", ".ipynb", ".yaml", ".txt", "/"])

    def run_name(self) -> str:
        r = self.rng
        f = r.randrange(6)
        if f <= 2:
            return f"{r.choice(ADJECTIVES)}-{r.choice(ANIMALS)}-{r.randint(0, 999)}"
        if f == 3:
            return f"{self.word()}_{self.date()}"
        if f == 4:
            return self.sentence(1, 4)
        return r.choice([self.snake(), self.kebab(), self.camel()]) + r.choice(["", "-" + str(r.randint(1, 99)), "_" + self.version()])

    def model_name(self) -> str:
        r = self.rng
        f = r.randrange(7)
        base = r.choice([self.snake(), self.kebab(), self.camel(), self.word()])
        if f == 0:
            return f"{base}-{self.version()}"
        if f == 1:
            return f"{r.choice(['prod', 'staging', 'dev', 'main', 'catalog'])}.{self.snake()}.{self.snake()}"
        if f == 2:
            return base.upper()
        if f == 3:
            return f"{base} {self.word().capitalize()} {r.choice(['Classifier', 'Regressor', 'LLM', 'Embedder', 'v2', 'XGBoost'])}"
        if f == 4:
            return f"{base}@{r.choice(['champion', 'challenger', 'latest'])}"
        return base

    def experiment_name(self) -> str:
        r = self.rng
        f = r.randrange(7)
        if f == 0:
            return f"/Users/{self.word()}@{self.word()}.com/{self.kebab()}"
        if f == 1:
            return f"{self.camel()} {self.date()}"
        if f == 2:
            return self.sentence(1, 6)
        if f == 3:
            return f"{self.snake()}_{self.version()}"
        if f == 4:
            return r.choice(["Default", "default", "Test", "tmp", "exp", "experiment 1", "My Experiment"])
        return r.choice([self.snake(), self.kebab(), self.camel(), self.path()])

    def unicode_text(self) -> str:
        r = self.rng
        parts = []
        for _ in range(r.randint(1, 6)):
            k = r.randrange(4)
            if k == 0:
                parts.append(self.word())
            elif k == 1:
                parts.append("".join(r.choice(NON_ASCII_CHARS) for _ in range(r.randint(1, 6))))
            elif k == 2:
                w = list(self.word())
                for _ in range(r.randint(1, 2)):
                    w.insert(r.randrange(len(w) + 1), r.choice(NON_ASCII_CHARS))
                parts.append("".join(w))
            else:
                parts.append(r.choice(UNICODE_SAMPLES))
        return r.choice([" ", "-", "_", "", "/", "."]).join(parts)

    def punct_text(self) -> str:
        r = self.rng
        out = []
        for _ in range(r.randint(1, 8)):
            if r.random() < 0.5:
                out.append("".join(r.choice(PUNCT) for _ in range(r.randint(1, 4))))
            else:
                out.append(r.choice([self.word(), str(r.randint(0, 10**6)), self.word().upper()]))
        return "".join(out)

    def mixed_case(self, s: str) -> str:
        return "".join(c.upper() if self.rng.random() < 0.5 else c for c in s)

    def number_text(self) -> str:
        r = self.rng
        f = r.randrange(6)
        if f == 0:
            return str(r.randint(0, 10**r.randint(1, 20)))
        if f == 1:
            return f"{r.uniform(-1000, 1000):.{r.randint(0, 8)}f}"
        if f == 2:
            return f"{r.uniform(0, 1):.3e}"
        if f == 3:
            return " ".join(str(r.randint(0, 999)) for _ in range(r.randint(2, 6)))
        if f == 4:
            return "0" * r.randint(1, 12) + str(r.randint(0, 99))
        return f"{self.word()}{r.randint(0, 9999)}{self.word()}"

    def long_text(self, n_chars: int) -> str:
        out: list[str] = []
        total = 0
        while total < n_chars:
            s = self.rng.choice([self.sentence(), self.snake(), self.uri(), self.unicode_text(), self.number_text()])
            out.append(s)
            total += len(s) + 1
        return " ".join(out)[:n_chars]

    def value_text(self) -> str:
        """A tag / param / assessment value."""
        r = self.rng
        f = r.randrange(14)
        return [
            self.sentence, self.snake, self.kebab, self.camel, self.version, self.date, self.uri,
            self.path, self.number_text, self.unicode_text, self.punct_text, self.run_name,
            lambda: json.dumps({self.word(): r.choice([r.random(), self.word(), True, None])}),
            lambda: r.choice(["", " ", "true", "false", "None", "null", "yes", "no", "0", "1", "NaN", "-inf"]),
        ][f]()


def token_texts(gen: Gen, pools: Pools) -> list[str]:
    """At least 20,000 distinct tokenizer inputs."""
    r = gen.rng
    texts: set[str] = set()
    # English words (lowercase) from MLflow's source, and some in other cases.
    texts.update(pools.words)
    texts.update(INFLECTIONS)
    for w in INFLECTIONS:
        texts.add(w.upper())
        texts.add(w.capitalize())
    for w in r.sample(pools.words, 1500):
        texts.add(r.choice([w.upper(), w.capitalize(), gen.mixed_case(w)]))
    texts.update(r.sample(pools.idents, 2500))
    texts.update(r.sample(pools.doc_lines, 2000))
    # Stop words alone, in pairs and in sentences.
    texts.update(STOP_WORD_SAMPLE)
    texts.update(w.upper() for w in STOP_WORD_SAMPLE)
    for _ in range(300):
        texts.add(" ".join(r.choice(STOP_WORD_SAMPLE) for _ in range(r.randint(2, 8))))
    # Single characters, digits, empty and whitespace.
    texts.update(chr(c) for c in range(0x21, 0x7F))
    texts.update(["", " ", "  ", "\t", "\n", " \t\n\r ", "\u00a0", "\u3000", "\u2003\u2009", "\x0b\x0c"])
    texts.update(str(i) for i in range(0, 1000))
    texts.update(["00", "000", "007", "0x1f", "1e10", "3.14159", "-1", "+1", "1,000,000", "10_000"])
    # MLflow-ish names.
    makers: list[Callable[[], str]] = [
        gen.snake, gen.kebab, gen.camel, gen.version, gen.date, gen.uri, gen.path,
        gen.run_name, gen.model_name, gen.experiment_name, gen.number_text, gen.sentence,
        gen.punct_text,
    ]
    for mk in makers:
        for _ in range(350):
            texts.add(mk())
    for _ in range(300):
        texts.add(gen.mixed_case(r.choice(makers)()))
    # Non-ASCII.
    texts.update(UNICODE_SAMPLES)
    for s in UNICODE_SAMPLES:
        texts.add(s.upper())
        texts.add(s.lower())
    for _ in range(1200):
        texts.add(gen.unicode_text())
    # Long and very long strings.
    for n in [256, 500, 1000, 2000, 4000, 6000, 8000]:
        texts.add(gen.long_text(n))
    texts.add("a" * 10000)
    texts.add("ab" * 5000)
    texts.add("abc " * 2500)
    texts.add("x" * 3)
    texts.add("İ" * 1000)
    texts.add("\u212a" * 500 + "elvin")
    texts.add(" ".join(str(i) for i in range(2000)))
    if len(texts) < 20000:
        raise SystemExit(f"gen_vectors: only {len(texts)} token inputs, need 20000")
    return sorted(texts)


def fts_cases(gen: Gen, fmt: str) -> list[dict[str, Any]]:
    """Arguments for fts_items_for_text, as the store passes them."""
    r = gen.rng
    default_levels = V01_LEVELS if fmt == "v0.1" else MAIN_LEVELS
    workspaces = ["default"] if fmt == "v0.1" else ["default", "default", "default", "team-a", "ws_42", "Prod Workspace", "wś"]
    odd_levels = [["W"], ["3"]] if fmt == "v0.1" else [["W"], ["3"], ["2"], ["W", "3"]]
    cases: dict[str, dict[str, Any]] = {}

    def add(pk: str, t: str, eid: str, field: str | None, text: str, workspace: str | None) -> None:
        levels = default_levels if r.random() >= 0.04 else r.choice(odd_levels)
        case = {
            "pk": pk, "entity_type": t, "entity_id": eid, "field": field, "text": text,
            "workspace": workspace, "levels": list(levels),
        }
        cases[json.dumps(case, ensure_ascii=False, sort_keys=True)] = case

    def special_text() -> str:
        return r.choice([
            "", " ", "the", "a an the", "The Of And", "is it", "to be or not to be", "I", "x y z",
            "...", "#", "İ", "ﬁ", "😀", gen.unicode_text(), " ".join(r.sample(STOP_WORD_SAMPLE, 4)),
        ])

    def text_of(mk: Callable[[], str]) -> str:
        x = r.random()
        if x < 0.08:
            return special_text()
        if x < 0.11:
            return gen.long_text(r.choice([300, 1000, 3000]))
        if x < 0.16:
            return gen.mixed_case(mk())
        return mk()

    def ws() -> str:
        return r.choice(workspaces)

    for _ in range(450):  # experiment names
        e = gen.experiment_id()
        add(f"EXP#{e}", "E", e, None, text_of(gen.experiment_name), ws())
    for _ in range(400):  # registered model names
        m = gen.ulid()
        add(f"RM#{m}", "M", m, None, text_of(gen.model_name), ws())
    for _ in range(400):  # run names
        add(f"EXP#{gen.experiment_id()}", "R", gen.run_id(), None, text_of(gen.run_name), None)
    for _ in range(450):  # run tag values, field = tag key
        key = r.choice(TAG_KEYS) if r.random() < 0.6 else r.choice([gen.snake(), gen.kebab(), "mlflow." + gen.camel(), gen.unicode_text()])
        add(f"EXP#{gen.experiment_id()}", "R", gen.run_id(), key, text_of(gen.value_text), None)
    for _ in range(350):  # run param values, field = param key
        key = r.choice([gen.snake(), gen.camel(), gen.kebab(), r.choice(TAG_KEYS), "lr", "n_estimators", "model.params.depth"])
        add(f"EXP#{gen.experiment_id()}", "R", gen.run_id(), key, text_of(gen.value_text), None)
    for _ in range(350):  # trace tag values
        key = r.choice(TAG_KEYS) if r.random() < 0.6 else r.choice([gen.snake(), "mlflow.trace." + gen.camel(), gen.unicode_text()])
        add(f"EXP#{gen.experiment_id()}", "T", gen.trace_id(), key, text_of(gen.value_text), None)
    for _ in range(350):  # assessment values
        add(f"EXP#{gen.experiment_id()}", "T", gen.trace_id(), f"assess_{gen.assessment_id()}", text_of(gen.value_text), None)
    for _ in range(60):  # span names (written by the store itself, cheap to cover)
        names = sorted({r.choice([gen.snake(), gen.camel(), "ChatModel", "retrieve", "llm.invoke"]) for _ in range(r.randint(1, 6))})
        add(f"EXP#{gen.experiment_id()}", "T", gen.trace_id(), "spans", " ".join(names), None)
    if fmt == "main":
        for _ in range(300):  # run artifact_uri (main only)
            e = gen.experiment_id()
            rid = gen.run_id()
            uri = r.choice([gen.uri(), f"s3://bucket/{e}/{rid}/artifacts", f"mlflow-artifacts:/{e}/{rid}/artifacts"])
            add(f"EXP#{e}", "R", rid, "artifact_uri", uri, None)
    # Empty field: Python treats "" as falsy, so no field suffix is written.
    for _ in range(10):
        add(f"EXP#{gen.experiment_id()}", "R", gen.run_id(), "", gen.value_text(), None)
    # Maximal lengths the MLflow client allows: tag 8000, param 6000, exp name 500.
    e = gen.experiment_id()
    add(f"EXP#{e}", "R", gen.run_id(), "long.tag", gen.long_text(8000), None)
    add(f"EXP#{e}", "R", gen.run_id(), "long_param", gen.long_text(6000), None)
    add(f"EXP#{e}", "E", e, None, gen.long_text(500), "default")
    return [cases[k] for k in sorted(cases)]


def diff_cases(gen: Gen, fmt: str, n: int = 1500) -> list[dict[str, Any]]:
    r = gen.rng
    default_levels = V01_LEVELS if fmt == "v0.1" else MAIN_LEVELS
    odd_levels = [["W"], ["3"]] if fmt == "v0.1" else [["W"], ["3"], ["2"], ["W", "3"]]
    makers = [gen.experiment_name, gen.run_name, gen.model_name, gen.value_text, gen.sentence]
    cases: dict[str, dict[str, Any]] = {}

    def edit(s: str) -> str:
        k = r.randrange(8)
        ws = s.split(" ")
        if k == 0:
            return s + " " + gen.word()
        if k == 1 and len(ws) > 1:
            ws.pop(r.randrange(len(ws)))
            return " ".join(ws)
        if k == 2:
            return s.upper()
        if k == 3:
            return s.replace(r.choice("aeiou"), r.choice("aeiou"))
        if k == 4:
            return s + r.choice(["s", "ed", "ing", "-v2", "_copy", " (1)"])
        if k == 5:
            return gen.word() + " " + s
        if k == 6:
            return s
        return r.choice(makers)()

    while len(cases) < n:
        mk = r.choice(makers)
        x = r.random()
        if x < 0.12:
            old: str | None = None
            new = mk()
        elif x < 0.18:
            old, new = mk(), ""
        elif x < 0.22:
            old, new = "", mk()
        elif x < 0.26:
            old, new = r.choice([("", ""), ("the", "a"), ("İ", "i"), ("ﬁle", "file"), (None, ""), ("a b", "b a")])
        elif x < 0.30:
            old, new = gen.unicode_text(), gen.unicode_text()
        else:
            old = mk()
            new = edit(old)
        levels = default_levels if r.random() >= 0.05 else r.choice(odd_levels)
        case = {"old": old, "new": new, "levels": list(levels)}
        cases[json.dumps(case, ensure_ascii=False, sort_keys=True)] = case
    return [cases[k] for k in sorted(cases)]


# -- fnmatch -----------------------------------------------------------------

FNMATCH_PATTERNS = [
    "", "*", "**", "***", "?", "??", "*?", "?*", "*.*", ".*", "*.", ".", "..", "/", "#", " ", "  ",
    "mlflow.*", "mlflow.?", "mlflow.*.*", "mlflow.source.*", "mlflow.runName", "mlflow*", "MLFLOW.*",
    "Mlflow.*", "team.*", "team.?", "team*", "*.name", "*name", "*.Name", "env", "ENV", "owner",
    "data/*", "data/*/v2", "*/*", "*/", "/*", "a/b", "a#b", "#*", "*#*", "* *", "*  *", "my tag",
    "[a-z]", "[a-z]*", "*[a-z]", "[A-Z]*", "[0-9]*", "[!x]", "[!x]*", "[!a-z]*", "[]]", "[]]*",
    "[!]]", "[!]]*", "[z-a]", "[z-a]*", "x[z-a]y", "[a-]", "[a-]*", "[-a]", "[-a]*", "[-]", "[!-]",
    "[", "[*", "*[", "[a", "a[", "[a-z", "[!", "[!a", "[]", "[!]", "[]a]", "[!]a]", "[^a]", "[^a]*",
    "[[]", "[[]*", "[]-a]", "[]-]", "[a-c-e]", "[--/]", "[%--]", "[!--]", "[&&]", "[~~]", "[||]",
    "[a&&b]", "[\\]", "[\\]]", "[\\d]", "[a\\-z]", "\\", "\\*", "\\?", "*\\", "a\\b", "\\[a]",
    "\\\\", "[\\\\]", "\\n", "\\d", "a.b", "a?b", "a*b", "a*b*c", "*a*b*", "?a?", "(a)", "a|b",
    "a{1,2}", "a+", "^a", "a$", "$", "^", "[.]", "[*]", "[?]", "[#]", "[/]", "[ ]", "*[.]*",
    "é*", "*é", "[é]", "[à-ÿ]*", "[α-ω]*", "?é", "ключ*", "标签", "*签", "🚀*", "*🚀", "[😀-🙏]",
    "İ*", "i*", "I*", "ı*", "ß", "SS", "ﬁ*", "fi*", "K*", "\u212a*", "e\u0301*", "é",
    "?\u0301", "??", "*\n*", "\n", "a\nb", "*\t*", "priority", "run.*", "*.*.*", "mlflow.note.*",
    "*tag*", "*TAG*", "[tT]eam", "[Mm]lflow.*", "[!m]*", "[!.]*", "*[!.]", "?????", "*?*?*",
    "data[/]*", "a[!/]b", "a[/]b", "[a-zA-Z0-9_]*", "[0-9][0-9]", "x[!0-9]", "[]!]", "[!!]",
    "[!]!]", "[]]]", "[]]]]", "[a]]", "[[]]", "[!][]", "*]", "]", "]*", "-", "[-]*", "[a-a]",
    "[b-a]x", "[a-b-c]", "[z-a0-9]", "[!z-a]", "[!z-a]*", "[9-0]", "[+--]", "\U0001f600",
]

FNMATCH_KEYS = [
    "", " ", "  ", ".", "..", "/", "#", "a", "b", "x", "z", "A", "Z", "0", "9", "-", "]", "[", "!",
    "^", "\\", "*", "?", "&", "~", "|", "%", "+", ",", "_", "\n", "\t", "ab", "a.b", "a/b", "a#b",
    "a b", "a\nb", "a\\b", "a[b", "a]b", "a-b", "a?b", "a*b", "abc", "aXbYc", "acb", "ba", "aa",
    "mlflow.runName", "mlflow.user", "mlflow.source.name", "mlflow.", "mlflow", "MLFLOW.user",
    "Mlflow.user", "mlflow.x", "mlflowx", "mlflow.note.content", "team.name", "team.", "team",
    "teams", "Team", "team.a.b", "env", "ENV", "Env", "owner", "priority", "run.id", "data/x",
    "data/x/v2", "data/", "data", "my tag", "my  tag", "x.name", ".name", "name", "x.Name",
    "key.with.dots", "a#b#c", "##", "tag", "TAG", "my_tag", "é", "e\u0301", "éclair", "café",
    "ключ", "ключи", "标签", "中文标签", "🚀", "🚀launch", "launch🚀", "😀", "İ", "İstanbul", "i",
    "I", "ı", "ıx", "ß", "SS", "ss", "ﬁ", "ﬁle", "file", "K", "k", "\u212a", "\u212aelvin",
    "α", "ω", "β", "à", "ÿ", "ñ", "(a)", "a|b", "aa+", "a{1,2}", "^a", "a$", "$", "12", "1x",
    "xa", "x0", "a-", "-a", "!x", "!]", "]]", "[]", "[a]", "[!x]", "abc]", "[[", "\\d", "d",
    "\\n", "n",
]


def fnmatch_cases(rng: random.Random) -> list[dict[str, Any]]:
    import fnmatch

    pairs: set[tuple[str, str]] = set()

    def instantiate(p: str) -> str:
        """A key built from the pattern, likely (not surely) matching it."""
        out = []
        i = 0
        while i < len(p):
            c = p[i]
            if c == "*":
                out.append(rng.choice(["", "a", "x.y", "mlflow", "/", "#", " ", "é", "abc/def"]))
            elif c == "?":
                out.append(rng.choice("a.Z9/#é -]"))
            elif c == "[":
                j = p.find("]", i + 2)
                if j == -1:
                    out.append(c)
                else:
                    body = p[i + 1 : j]
                    out.append(rng.choice(body.lstrip("!") or "]") if body else "]")
                    i = j
            else:
                out.append(c)
            i += 1
        return "".join(out)

    for p in FNMATCH_PATTERNS:
        pairs.add((p, p))  # pattern against itself
        for _ in range(6):
            pairs.add((p, instantiate(p)))
        for k in rng.sample(FNMATCH_KEYS, 14):
            pairs.add((p, k))
    # Random compound patterns.
    atoms = ["*", "?", "[a-z]", "[!.]", "[]]", "mlflow", ".", "/", "#", "team", "é", "x", "[0-9]", "\\", "["]
    for _ in range(600):
        p = "".join(rng.choice(atoms) for _ in range(rng.randint(1, 5)))
        pairs.add((p, instantiate(p)))
        pairs.add((p, rng.choice(FNMATCH_KEYS)))
    cases = [{"pattern": p, "key": k, "match": fnmatch.fnmatch(k, p)} for p, k in sorted(pairs)]
    return cases


# -- denormalize -------------------------------------------------------------

GLOBAL_CHOICES: list[list[str] | None] = [
    None, [], ["mlflow.*"], ["team.*"], ["mlflow.*", "team.*"], ["team.*", "mlflow.*"], ["*"],
    ["owner", "env"], ["*.name", "priority"], ["mlflow.*", "mlflow.*"], ["data/*", "[a-c]*"],
    ["MLFLOW.*"], ["mlflow.?"], [""], ["[!m]*"], ["*#*", "* *"], ["é*", "标签"], ["mlflow.user"],
]
EXP_CHOICES: list[list[str] | None] = [
    None, [], ["run.*"], ["*"], ["priority", "data/*"], ["team.*"], ["mlflow.*"], ["[0-9]*"],
    ["*.name", "owner"], ["?"], ["ключ*", "🚀*"], ["env", "env"], [""],
]
DENORM_KEYS = [
    "mlflow.runName", "mlflow.user", "mlflow.source.name", "mlflow.", "mlflow", "MLFLOW.user",
    "team.name", "team.", "team", "Team.name", "owner", "env", "ENV", "priority", "run.id",
    "run.", "data/x", "data/", "x.name", ".name", "name", "a", "1", "12", "", " ", "a#b", "a b",
    "my tag", "ключ", "ключи", "🚀", "🚀go", "标签", "é", "éclair", "m", "b", "c", "d",
    "mlflow.x", "mlflowx", "[x]", "?", "*",
]


def denormalize_cases(rng: random.Random) -> list[dict[str, Any]]:
    from mlflow_dynamodbstore.dynamodb.config import ConfigReader

    class FakeTable:
        def __init__(self, items: dict[tuple[str, str], dict[str, Any]]) -> None:
            self.items = items

        def get_item(self, pk: str, sk: str, consistent: bool = False) -> dict[str, Any] | None:
            item = self.items.get((pk, sk))
            return None if item is None else json.loads(json.dumps(item))

        def put_item(self, item: dict[str, Any], **_: Any) -> None:  # never called here
            raise AssertionError("ConfigReader.should_denormalize must not write")

    def result(glob: list[str] | None, exp_id: str | None, exp_pats: list[str] | None, key: str) -> bool:
        items: dict[tuple[str, str], dict[str, Any]] = {}
        if glob is not None:
            items[("CONFIG", "DENORMALIZE_TAGS")] = {"PK": "CONFIG", "SK": "DENORMALIZE_TAGS", "patterns": list(glob)}
        if exp_id is not None and exp_pats is not None:
            sk = f"DENORMALIZE_TAGS#EXP#{exp_id}"
            items[("CONFIG", sk)] = {"PK": "CONFIG", "SK": sk, "patterns": list(exp_pats)}
        return bool(ConfigReader(FakeTable(items)).should_denormalize(exp_id, key))

    seen: dict[str, dict[str, Any]] = {}
    exp_ids = [None, "0", "1", "42", "01jd8x3k2m4n5p6q7r8s9t0v1w", "123456789012"]
    while len(seen) < 4000:
        glob = rng.choice(GLOBAL_CHOICES)
        exp_id = rng.choice(exp_ids)
        exp_pats = None if exp_id is None else rng.choice(EXP_CHOICES)
        key = rng.choice(DENORM_KEYS)
        case = {
            "global": glob, "experiment_id": exp_id, "experiment_patterns": exp_pats, "key": key,
            "result": result(glob, exp_id, exp_pats, key),
        }
        seen[json.dumps(case, ensure_ascii=False, sort_keys=True)] = case
    return [seen[k] for k in sorted(seen)]


# ---------------------------------------------------------------------------
# Oracle calls
# ---------------------------------------------------------------------------


def items_json(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for it in items:
        for k, v in it.items():
            if not isinstance(v, str):
                raise SystemExit(f"gen_vectors: non-string attribute {k}={v!r} in FTS item")
        out.append(dict(sorted(it.items())))
    out.sort(key=lambda it: it["SK"])
    sks = [it["SK"] for it in out]
    if len(set(sks)) != len(sks):
        raise SystemExit("gen_vectors: duplicate SK among the items of one call")
    return out


def pairs_json(s: set[tuple[str, str]]) -> list[list[str]]:
    return [list(p) for p in sorted(s)]


def compute(fts: Any, fmt: str, texts: list[str], fcases: list[dict[str, Any]], dcases: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Run one format's fts module over all inputs (used in-process and in the worker)."""
    tokens = []
    for t in texts:
        rec: dict[str, Any] = {"text": t, "W": sorted(fts.tokenize_words(t)), "3": sorted(fts.tokenize_trigrams(t))}
        if fmt == "main":
            rec["2"] = sorted(fts.tokenize_tail_bigrams(t))
        tokens.append(rec)
    items = []
    for c in fcases:
        got = fts.fts_items_for_text(
            pk=c["pk"], entity_type=c["entity_type"], entity_id=c["entity_id"], field=c["field"],
            text=c["text"], levels=tuple(c["levels"]), workspace=c["workspace"],
        )
        items.append({**c, "items": items_json(got)})
    diffs = []
    for c in dcases:
        add, remove = fts.fts_diff(c["old"], c["new"], tuple(c["levels"]))
        diffs.append({**c, "add": pairs_json(add), "remove": pairs_json(remove)})
    return {"tokens": tokens, "fts_items": items, "fts_diff": diffs}


def main_worker(tree: str) -> None:
    """Subprocess entry: import main's fts from `tree` (first on sys.path) and compute."""
    sys.path.insert(0, tree)
    import inspect

    import mlflow_dynamodbstore.dynamodb.fts as fts  # the synthetic tree's copy

    if not Path(fts.__file__).resolve().is_relative_to(Path(tree).resolve()):
        raise SystemExit(f"gen_vectors worker: imported {fts.__file__}, not from {tree}")
    check_pure_stemmer()
    req = json.load(sys.stdin)
    out = compute(fts, "main", req["texts"], req["fts_items"], req["fts_diff"])
    out["signature"] = "fts_items_for_text" + str(inspect.signature(fts.fts_items_for_text))
    out["diff_signature"] = "fts_diff" + str(inspect.signature(fts.fts_diff))
    sys.stdout.write(json.dumps(out, ensure_ascii=False))


# ---------------------------------------------------------------------------
# main-format source
# ---------------------------------------------------------------------------


def find_main_dynamodb_dir(src: Path) -> Path | None:
    for cand in (src / "mlflow_dynamodbstore" / "dynamodb", src / MAIN_SUBDIR, src / "dynamodb", src):
        if (cand / "fts.py").is_file() and (cand / "schema.py").is_file():
            return cand
    return None


def materialize_main(args: argparse.Namespace, tmp: Path) -> tuple[Path | None, str]:
    """Return (dynamodb dir holding main's fts.py and schema.py, description) or (None, why)."""
    src = args.main_src or os.environ.get("MAIN_REF_SRC")
    if src:
        d = find_main_dynamodb_dir(Path(src))
        if d is None:
            sys.exit(f"gen_vectors: --main-src {src}: no mlflow_dynamodbstore/dynamodb/{{fts,schema}}.py under it")
        return d, f"checkout at {src}"
    mirror = Path(os.environ.get("MAIN_REF_MIRROR", DEFAULT_MIRROR))
    if not (mirror / "objects").is_dir() and not (mirror / ".git").is_dir():
        return None, f"no --main-src, MAIN_REF_SRC unset, and no git mirror at {mirror}"
    try:
        tar_bytes = subprocess.run(
            ["git", "-C", str(mirror), "archive", MAIN_COMMIT, MAIN_SUBDIR],
            check=True, capture_output=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        err = getattr(e, "stderr", b"") or b""
        return None, f"git archive {MAIN_SHORT} from {mirror} failed: {e} {err.decode(errors='replace').strip()}"
    dest = tmp / "archive"
    dest.mkdir()
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tf:
        tf.extractall(dest, filter="data")
    return dest / MAIN_SUBDIR, f"git mirror {mirror} at {MAIN_COMMIT}"


def build_main_tree(dyn: Path, tmp: Path) -> Path:
    """A minimal package tree: mainref/mlflow_dynamodbstore/dynamodb/{__init__,schema,fts}.py."""
    tree = tmp / "mainref"
    pkg = tree / "mlflow_dynamodbstore"
    (pkg / "dynamodb").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "dynamodb" / "__init__.py").write_text("")
    shutil.copyfile(dyn / "schema.py", pkg / "dynamodb" / "schema.py")
    shutil.copyfile(dyn / "fts.py", pkg / "dynamodb" / "fts.py")
    return tree


def run_main(tree: Path, texts: list[str], fcases: list[dict[str, Any]], dcases: list[dict[str, Any]]) -> dict[str, Any]:
    req = json.dumps({"texts": texts, "fts_items": fcases, "fts_diff": dcases}, ensure_ascii=False)
    env = dict(os.environ, PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run(
        [sys.executable, "-I", str(Path(__file__).resolve()), "--main-worker", str(tree)],
        input=req.encode("utf-8"), capture_output=True, env=env,
    )
    if proc.returncode != 0:
        sys.exit(f"gen_vectors: main worker failed:\n{proc.stderr.decode(errors='replace')}")
    return json.loads(proc.stdout.decode("utf-8"))


# ---------------------------------------------------------------------------
# README
# ---------------------------------------------------------------------------

README_TEMPLATE = """# Parity vectors

Generated by `scripts/gen_vectors.py` (`make vectors`, i.e.
`scripts/venv.sh reference && .venv/bin/python scripts/gen_vectors.py`) by
calling the reference store's own functions. Do not edit by hand: rerun the
script. Output is deterministic (seed {seed}, sorted records, gzip with mtime 0);
a rerun with the same versions gives byte-identical files.

Versions used: mlflow-dynamodbstore {v_pkg} (PyPI), snowballstemmer
{v_snow} (pure-Python English stemmer, PyStemmer absent), Python {v_py},
mlflow {v_mlflow} (whose installed source tree supplies the English word pool).
`main` format: zeroae/mlflow-dynamodbstore commit `{main_commit}`,
`src/mlflow_dynamodbstore/dynamodb/fts.py` (sha256 `{main_sha}`), run in a
subprocess from a temporary tree; its code is not in this repository.

Every file is gzip-compressed JSON Lines (UTF-8, one object per line, no
ASCII escaping, keys in the order listed). Token lists are sorted (Python code
point order; tokens are ASCII `[a-z0-9]`), item lists are sorted by `SK`, pairs
by `(level, token)`, and records by their input.

## Files and counts

| file | records |
|---|---|
{count_rows}

## Record formats

- `*/tokens.jsonl.gz`: `{{"text": str, "W": [str], "3": [str]}}`, `main` adds
  `"2": [str]`. `W` = `tokenize_words(text)`, `3` = `tokenize_trigrams(text)`,
  `2` = main's `tokenize_tail_bigrams(text)` (its level `2`). Both formats
  use the same input texts.
- `v0.1/stems.jsonl.gz`: `{{"word": str, "stem": str}}`: snowballstemmer
  `stemmer("english").stemWord(word)` for every distinct `[a-z0-9]+` word of
  `text.lower()` over every text in `tokens`, `fts_items` and `fts_diff`
  (both formats), stop words and one-letter words included (the tokenizer
  drops those before stemming; they are here for diagnosis only).
- `v0.1/fnmatch.jsonl.gz`: `{{"pattern": str, "key": str, "match": bool}}`,
  `match = fnmatch.fnmatch(key, pattern)` on Linux (case-sensitive).
- `v0.1/denormalize.jsonl.gz`: `{{"global": [str] | null, "experiment_id":
  str | null, "experiment_patterns": [str] | null, "key": str, "result": bool}}`.
  `global` null: no `CONFIG/DENORMALIZE_TAGS` item; a list: that item's
  `patterns` as stored (ConfigReader adds `mlflow.*` when missing).
  `experiment_patterns` null: no `CONFIG/DENORMALIZE_TAGS#EXP#<id>` item
  (always null when `experiment_id` is null). `result =
  ConfigReader(fake_table).should_denormalize(experiment_id, key)`.
- `*/fts_items.jsonl.gz`: `{{"pk": str, "entity_type": "E"|"M"|"R"|"T",
  "entity_id": str, "field": str | null, "text": str, "workspace": str | null,
  "levels": [str], "items": [{{attribute: str}}]}}`. The first seven keys are
  exactly the keyword arguments passed to `fts_items_for_text` (`levels` as a
  tuple); `items` is its return value, each item with its attributes sorted by
  name (`PK`, `SK`, and for E/M `gsi2pk`, `gsi2sk`; all strings), the list
  sorted by `SK`. Signatures (identical in both formats except the default
  levels):
  - v0.1: `{v01_sig}`
  - main: `{main_sig}`
- `*/fts_diff.jsonl.gz`: `{{"old": str | null, "new": str, "levels": [str],
  "add": [[level, token]], "remove": [[level, token]]}}` from
  `fts_diff(old, new, tuple(levels))`.

## What the inputs cover

- tokens: every lowercased letter run and camelCase part of MLflow's installed
  source, a hand list of inflections (added, organization, international,
  university, generously, ...), identifiers, docstring lines, snake/Camel/kebab
  names, versions, dates, URIs, paths, run/model/experiment names, numbers,
  punctuation, all printable ASCII characters alone, stop words alone and in
  runs, empty and whitespace-only strings, strings of 256..10,000 characters,
  and non-ASCII text (é, ß, İ, ı, ﬁ, Greek, Cyrillic, CJK, emoji, combining
  marks, KELVIN SIGN, fullwidth forms, NUL, zero-width and no-break spaces).
- fts_items: experiment names (E, `EXP#<id>`, workspace `default`; main also
  other workspaces), model names (M, `RM#<ulid>`), run names (R, workspace
  null as the store passes it), run tag and param values (R, field = key, keys
  with `#`, `.`, `/`, spaces, Unicode), trace tag values and assessment values
  (T, `tr-<hex>`, field `assess_<id>`), span names (field `spans`), main's run
  `artifact_uri` (field `artifact_uri`), empty and stop-word-only texts, texts
  up to 8,000 characters, about 4% of cases with a single level, and 10 with
  field `""` (Python treats it as false: no field suffix). Ids are mostly
  lowercase ULIDs (what the store generates), some digit strings / 32-hex.

## Notes on the reference behaviour

- Lowercasing is Python `str.lower()`. Only two non-ASCII code points lower to
  ASCII letters: U+0130 `İ` -> `i` + U+0307 (two code points, so the lowered
  text is longer; `İstanbul` gives the words `i` and `stanbul`) and U+212A
  KELVIN SIGN -> `k`. Everything else non-ASCII is a word separator.
- `main`'s `tokenize_words`/`tokenize_trigrams` behave as v0.1's (same stop
  words, same stemmer, thread-local instance); its `W` and `3` lists equal
  v0.1's for every text. Level `2` is the last two characters of each word of
  length >= 2 (stop words and one-letter words included, no stemming).
- `fts_items_for_text` with field `""` writes no field suffix (`if field`).
- v0.1 forward SK: `FTS#<l>#<tok>#<t>#<id>[#<f>]`; main: `FTS#<l>#<t>#<tok>#<id>[#<f>]`;
  reverse SKs identical; `gsi2sk` = forward SK without `FTS#`; `gsi2pk` =
  `FTS_NAMES#<workspace>` (Python `str(None)` = `None` if workspace is null).
"""


def write_readme(out: Path, versions: dict[str, str], counts: dict[str, int], v01_sig: str, main_sig: str, main_sha: str) -> None:
    rows = "\n".join(f"| `{name}` | {n} |" for name, n in sorted(counts.items()))
    text = README_TEMPLATE.format(
        seed=SEED, v_pkg=versions["mlflow-dynamodbstore"], v_snow=versions["snowballstemmer"],
        v_py=versions["python"], v_mlflow=versions["mlflow"], main_commit=MAIN_COMMIT,
        main_sha=main_sha, count_rows=rows, v01_sig=v01_sig, main_sig=main_sig,
    )
    (out / "README.md").write_text(text, encoding="utf-8")


MAIN_SIG_EXPECTED = (
    "fts_items_for_text(pk: 'str', entity_type: 'str', entity_id: 'str', field: 'str | None', "
    "text: 'str', levels: 'tuple[str, ...]' = ('W', '3', '2'), workspace: 'str | None' = None) "
    "-> 'list[dict[str, Any]]'"
)


# ---------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--main-src", help="checkout of the main commit's src/ tree (or env MAIN_REF_SRC)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    ap.add_argument("--main-worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.main_worker:
        main_worker(args.main_worker)
        return

    versions = check_versions()
    import inspect

    import snowballstemmer
    from mlflow_dynamodbstore.dynamodb import fts as v01

    out: Path = args.out
    pools = Pools()
    print(f"gen_vectors: word pool {len(pools.words)} words, {len(pools.idents)} identifiers, {len(pools.doc_lines)} docstring lines", file=sys.stderr)

    texts = token_texts(Gen(random.Random(SEED), pools), pools)
    v01_fts = fts_cases(Gen(random.Random(SEED + 1), pools), "v0.1")
    v01_diff = diff_cases(Gen(random.Random(SEED + 2), pools), "v0.1")
    main_fts = fts_cases(Gen(random.Random(SEED + 3), pools), "main")
    main_diff = diff_cases(Gen(random.Random(SEED + 4), pools), "main")
    fn_cases = fnmatch_cases(random.Random(SEED + 5))
    dn_cases = denormalize_cases(random.Random(SEED + 6))

    v01_out = compute(v01, "v0.1", texts, v01_fts, v01_diff)
    v01_sig = "fts_items_for_text" + str(inspect.signature(v01.fts_items_for_text))

    # Stem table over every word of every text used.
    all_texts: list[str] = list(texts)
    for cases in (v01_fts, main_fts):
        all_texts += [c["text"] for c in cases]
    for cases in (v01_diff, main_diff):
        all_texts += [c["new"] for c in cases] + [c["old"] for c in cases if c["old"] is not None]
    vocab = sorted({w for t in all_texts for w in WORD_RE.findall(t.lower())})
    stemmer = snowballstemmer.stemmer("english")
    stems = [{"word": w, "stem": stemmer.stemWord(w)} for w in vocab]

    counts: dict[str, int] = {}

    def put(rel: str, records: list[dict[str, Any]]) -> None:
        counts[rel] = write_jsonl_gz(out / rel, records)

    put("v0.1/tokens.jsonl.gz", v01_out["tokens"])
    put("v0.1/stems.jsonl.gz", stems)
    put("v0.1/fnmatch.jsonl.gz", fn_cases)
    put("v0.1/denormalize.jsonl.gz", dn_cases)
    put("v0.1/fts_items.jsonl.gz", v01_out["fts_items"])
    put("v0.1/fts_diff.jsonl.gz", v01_out["fts_diff"])

    main_sig = MAIN_SIG_EXPECTED
    main_sha = MAIN_FTS_SHA256
    with tempfile.TemporaryDirectory(prefix="gen_vectors.") as tmpname:
        tmp = Path(tmpname)
        dyn, why = materialize_main(args, tmp)
        if dyn is None:
            print(f"gen_vectors: SKIPPING main vectors ({why}); existing main fixtures kept", file=sys.stderr)
            for name in ("tokens", "fts_items", "fts_diff"):
                rel = f"main/{name}.jsonl.gz"
                if (out / rel).is_file():
                    counts[rel] = count_jsonl_gz(out / rel)
        else:
            got_sha = sha256_file(dyn / "fts.py")
            if got_sha != MAIN_FTS_SHA256:
                sys.exit(f"gen_vectors: {dyn / 'fts.py'} has sha256 {got_sha}, expected {MAIN_FTS_SHA256} "
                         f"(fts.py at commit {MAIN_SHORT}); pass a checkout of that commit")
            print(f"gen_vectors: main format from {why}", file=sys.stderr)
            tree = build_main_tree(dyn, tmp)
            res = run_main(tree, texts, main_fts, main_diff)
            if res["signature"] != MAIN_SIG_EXPECTED:
                sys.exit(f"gen_vectors: unexpected main signature {res['signature']}")
            main_sig = res["signature"]
            put("main/tokens.jsonl.gz", res["tokens"])
            put("main/fts_items.jsonl.gz", res["fts_items"])
            put("main/fts_diff.jsonl.gz", res["fts_diff"])
            # Cross-check: the W and 3 levels must agree with v0.1 on every text.
            for a, b in zip(v01_out["tokens"], res["tokens"]):
                if a["text"] != b["text"] or a["W"] != b["W"] or a["3"] != b["3"]:
                    print(f"gen_vectors: NOTE main and v0.1 tokens differ for {a['text']!r}", file=sys.stderr)

    write_readme(out, versions, counts, v01_sig, main_sig, main_sha)

    total = 0
    print("gen_vectors: wrote", out)
    for rel in sorted(counts):
        size = (out / rel).stat().st_size
        total += size
        print(f"  {rel:32s} {counts[rel]:7d} records {size:10d} bytes")
    print(f"  {'total':32s} {'':7s}         {total:10d} bytes")


if __name__ == "__main__":
    main()
