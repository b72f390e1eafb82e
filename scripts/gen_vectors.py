#!/usr/bin/env python3
"""Generate the parity vectors under tests/fixtures/parity from the reference stores.

The reference packages are the oracles: this script calls their own code and
dumps what it returns as gzip-compressed JSON Lines; the Rust tests read them.

Formats:
  v0.1  the installed PyPI package mlflow-dynamodbstore==0.1.0 (project .venv),
        called in this process.
  main  zeroae/mlflow-dynamodbstore at commit 3ccbc9e (0.2.0.dev0), installed
        into .venv-main by scripts/oracle-main.sh. Run in a subprocess with that
        venv's Python (same module name as v0.1): its fts functions are called,
        and the store itself is driven through MlflowClient against a
        moto_server it starts, for the experiment tag maps and the run-name sync
        that the store computes inline. Without that venv the script fails: the
        main vectors are never silently kept or skipped.

Usage (from the repository root, see `make vectors`):
  scripts/venv.sh reference main
  .venv/bin/python scripts/gen_vectors.py [--main-python PY] [--out DIR]

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
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "tests" / "fixtures" / "parity"

MAIN_COMMIT = "3ccbc9e2256b026b4386d232fe7b1958c43364ad"
MAIN_SHORT = MAIN_COMMIT[:7]
MAIN_VERSION = "0.2.0.dev0"
# The venv scripts/oracle-main.sh installs the main store into.
DEFAULT_MAIN_PYTHON = ROOT / ".venv-main" / "bin" / "python"
MAIN_WHEEL = "mlflow_dynamodbstore-0.2.0.dev0+g3ccbc9e-py3-none-any.whl"
MAIN_WHEEL_SHA256 = "34af4f3c9fd060a17b6829f5c6c8397f6041974e94550a6c8363fb303f1fc5bb"
# sha256 of the files the main vectors come from, as at MAIN_COMMIT: the
# worker refuses an installed package of any other content (whether it came
# from the wheel or from a git build).
MAIN_FILE_SHA256 = {
    "dynamodb/fts.py": "bde3cdc78f0ee19d043ddeb23a7755b9a2f52f4e6296eb911490d4c4eab6cd84",
    "tracking_store.py": "338e87d80a475db6abf2f3cc7a69898d2df5f643970bcb1d27ff0b5bfa152597",
}
# One fresh table per category driven through the store (moto answers a
# GSI query by looking at every item of the table: a small table keeps the
# run tags fast).
MAIN_TAG_MAPS_TABLE = "parity-tag-maps"
MAIN_RUN_NAME_TABLE = "parity-run-name-sync"
MAIN_REPORTED_DISTS = ("mlflow-dynamodbstore", "mlflow", "snowballstemmer", "moto", "boto3")

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


# -- main: experiment tag maps and run-name sync ---------------------------------

# Lowering cases that break naive implementations: Greek final sigma in every
# context (the rule looks past case-ignorable characters on both sides),
# Turkish dotted/dotless I, German sharp s, ligatures, title-case digraphs,
# combining marks, and characters whose lowercase is longer than themselves.
LOWER_SAMPLES = [
    "", " ", "  ", "\t", "Σ", "σ", "ς", "ΣΣ", "ΑΣ", "ΑΣ ", "ΑΣ.", "ΑΣΑ", "ΑΣ1", "1Σ", "ΑΣ-Β", "Α-Σ",
    "ΑΣ'", "Α'Σ", "ΑΣ'Α", "Α\u00adΣ", "ΑΣ\u00ad", "ΑΣ\u00adΒ", "ΑΣ\u0301", "ΑΣ\u0301Β",
    "Α\u0301Σ", "Σ\u0301", "\u0301Σ", "ΑΣ\u200b", "ΑΣ\u200d", "Α\u200dΣ", "ΑΣ\U0001f600",
    "ΑΣ:Β", "ΑΣ·Β", "Α.Σ", "A.Σ", "aΣ", "aΣb", "aΣ.", "ǅΣ", "ǅ\u0301Σ", "ΆΣ", "ΟΔΥΣΣΕΥΣ",
    "ὈΔΥΣΣΕΎΣ", "ΣΊΣΥΦΟΣ", "ΌΣΟΣ ΚΑΙ ΑΝ", "ΣΑΣ ΣΑΣ", "ΣΑΣ\nΣΑΣ", "ΣΑΣ,ΣΑΣ", "İ", "I", "ı", "i",
    "İİ", "Iİı", "İstanbul", "ISTANBUL", "DİYARBAKIR", "iİ\u0307", "I\u0307", "İ\u0301",
    "\u0130\u0130\u0130", "ß", "ẞ", "SS", "Straße", "STRASSE", "GROẞ", "ﬁ", "ﬂ", "ﬀ", "ﬃ", "ﬄ", "ﬅ",
    "ﬆ", "ﬓ", "ﬔ", "ŉ", "ǰ", "ΐ", "ΰ", "ẖ", "ẗ", "ẘ", "ẙ", "ẚ", "ǅ", "ǈ", "ǋ", "ǲ", "Ǆ", "Ǉ",
    "Ǌ", "Ǳ", "ᾈ", "ᾼ", "ῌ", "ῼ", "Ⱥ", "Ⱦ", "ⱥ", "ⱦ", "Ȿ", "Ɐ", "\u212a", "\u212b", "\u2126",
    "Ⅻ", "Ⓐ", "Ａ", "𐐀", "𐓀", "𐲀", "𑢠", "𖹀", "𞤀", "\u1e9e", "\u1c80", "\u1c88", "\u0345",
    "\u0345Σ", "ΑΣ\u0345", "Ꭰ", "ꭰ", "Ᏸ", "ᏸ", "Ꞔ", "Ꟁ", "\ua7c0", "\ua7c9", "\ua7d0", "\ua7d6",
    "\ua7d8", "\ua7f5", "Ʞ", "Ʇ", "Ʝ", "Ꭓ", "e\u0301", "E\u0301", "É", "A\u030a", "Å", "Ä\u0308",
    "\u0301", "\u0301\u0301", "😀", "👩\u200d💻", "🇫🇷", "🏳️‍🌈", "ＡＢＣ", "ｍｏｄｅｌ", "中文模型", "日本語",
    "한국어", "עברית", "العربية", "ال\u0645\u064fوديل", "\u200fRTL\u200e", "\u202eABC\u202c",
    "हिन्दी", "ไทย", "ქართული", "Ⴀ", "ႠႡ", "Հայերեն", "ԱԲ", "𝔘𝔫𝔦", "𝐁𝐨𝐥𝐝", "\u0000", "a\u0000B",
    "\ufeffBOM", "\ufffd", "\uffff", "\U0010ffff", "\U000e0041", "\U000f0000", "ǅungla", "ǈubljana",
]


def sweep_values(step: int = 1024) -> list[str]:
    """Every assignable code point of planes 0-3 and the tag block of plane 14
    (surrogates excluded), in runs of `step` consecutive code points."""
    out: list[str] = []
    for lo in list(range(0, 0x40000, step)) + list(range(0xE0000, 0xE0200, step)):
        s = "".join(chr(c) for c in range(lo, lo + step) if not 0xD800 <= c <= 0xDFFF)
        if s:
            out.append(s)
    return out


def lower_values(gen: Gen) -> list[str]:
    """Tag values for the lowering vectors (a few thousand, distinct, sorted)."""
    r = gen.rng
    vals: set[str] = set(LOWER_SAMPLES) | set(UNICODE_SAMPLES) | set(sweep_values())
    for s in LOWER_SAMPLES + UNICODE_SAMPLES:
        vals.update([s.upper(), s.lower(), s.title(), s.swapcase(), s.casefold()])
    for _ in range(500):
        vals.add(gen.unicode_text())
    for _ in range(150):
        vals.add(gen.mixed_case(gen.unicode_text()))
    for _ in range(150):
        vals.add(gen.value_text())
    for _ in range(80):
        vals.add(r.choice([gen.experiment_name, gen.run_name, gen.model_name])())
    for _ in range(80):  # random code points from the whole range
        vals.add("".join(chr(r.choice([r.randrange(0x20, 0xD800), r.randrange(0xE000, 0x110000)]))
                         for _ in range(r.randint(1, 24))))
    for n in (1000, 4000):
        vals.add(gen.long_text(n))
    return sorted(vals)


# Each experiment gets at most one tag per key (a later tag of the same key
# would replace the entry), and a bounded number of bytes.
MAP_EXPERIMENT_BYTES = 150_000  # E#META stays far below DynamoDB's 400 KB item limit


def map_tag_keys() -> list[str]:
    """The keys of TAG_KEYS that MLflow accepts for a tag (its own check)."""
    from mlflow.utils.validation import path_not_unique, validate_param_and_metric_name

    keys = [k for k in TAG_KEYS if validate_param_and_metric_name(k) and not path_not_unique(k)]
    if len(keys) < 20:
        sys.exit(f"gen_vectors: only {len(keys)} tag keys pass MLflow's validation: {keys}")
    return keys


def tag_map_batches(values: list[str], keys: list[str]) -> list[list[dict[str, str]]]:
    """Values packed into experiments: one key each, within a byte budget."""
    batches: list[list[dict[str, str]]] = [[]]
    size = 0
    for v in values:
        n = 3 * len(v.encode("utf-8")) + 200
        if len(batches[-1]) == len(keys) or (batches[-1] and size + n > MAP_EXPERIMENT_BYTES):
            batches.append([])
            size = 0
        batches[-1].append({"key": keys[len(batches[-1])], "value": v})
        size += n
    return batches


RUN_NAME_OTHER_KEYS = [
    "mlflow.runname", "MLFLOW.RUNNAME", "mlflow.RunName", "mlflow.runName ", " mlflow.runName",
    "mlflow.runName.x", "mlflow.run_name", "runName", "run_name", "mlflow.user", "name",
    "mlflow.parentRunId", "mlflow.note.content", "team",
]


def run_name_cases(gen: Gen, values: list[str]) -> list[dict[str, str]]:
    """(key, value) pairs for the run-name vectors: mostly mlflow.runName,
    empty values included, and keys that only look like it."""
    r = gen.rng
    cases: set[tuple[str, str]] = set()
    short = [v for v in values if len(v) <= 300]
    for v in LOWER_SAMPLES + UNICODE_SAMPLES:
        cases.add(("mlflow.runName", v))
    for v in r.sample(short, min(len(short), 250)):
        cases.add(("mlflow.runName", v))
    for _ in range(60):
        cases.add(("mlflow.runName", gen.run_name()))
    for k in RUN_NAME_OTHER_KEYS:
        cases.add((k, ""))
        for v in r.sample(short, 5):
            cases.add((k, v))
    return [{"key": k, "value": v} for k, v in sorted(cases)]


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


def sort_records(records: list[dict[str, Any]], by: tuple[str, ...]) -> list[dict[str, Any]]:
    return sorted(records, key=lambda rec: tuple(rec[k] for k in by))


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


def main_worker() -> None:
    """Subprocess entry, run by .venv-main's Python: the installed `main` store
    computes every main vector (request on stdin, answer on stdout)."""
    out_stream = sys.stdout
    sys.stdout = sys.stderr  # whatever the libraries print must not corrupt the answer
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("gen_vectors worker: terminated"))  # stops moto_server
    import inspect

    dist_version = importlib.metadata.version("mlflow-dynamodbstore")
    if dist_version.split("+")[0] != MAIN_VERSION:
        raise SystemExit(f"gen_vectors worker: mlflow-dynamodbstore is {dist_version}, need {MAIN_VERSION} "
                         f"(commit {MAIN_SHORT}; run scripts/oracle-main.sh)")
    import mlflow_dynamodbstore.dynamodb.fts as fts

    pkg = Path(fts.__file__).resolve().parent.parent
    for rel, want in MAIN_FILE_SHA256.items():
        got = sha256_file(pkg / rel)
        if got != want:
            raise SystemExit(f"gen_vectors worker: {pkg / rel} has sha256 {got}, expected {want} "
                             f"(the file at commit {MAIN_SHORT})")
    check_pure_stemmer()
    req = json.load(sys.stdin)
    out: dict[str, Any] = compute(fts, "main", req["texts"], req["fts_items"], req["fts_diff"])
    out["signature"] = "fts_items_for_text" + str(inspect.signature(fts.fts_items_for_text))
    out["versions"] = {d: importlib.metadata.version(d) for d in MAIN_REPORTED_DISTS}
    with moto_server() as endpoint:
        out["tag_maps"] = drive_tag_maps(*main_store(endpoint, MAIN_TAG_MAPS_TABLE), req["tag_maps"])
        out["run_name_sync"] = drive_run_name_sync(*main_store(endpoint, MAIN_RUN_NAME_TABLE), req["run_name_sync"])
    out_stream.write(json.dumps(out, ensure_ascii=False))


class moto_server:
    """moto_server from this interpreter's venv on a free loopback port, for
    the duration of a `with` block (stopped by its own process id)."""

    def __enter__(self) -> str:
        import socket
        import urllib.request

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        exe = Path(sys.executable).parent / "moto_server"
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            if self.proc.poll() is not None:
                break
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
                return url
            except OSError:
                time.sleep(0.1)
        self.log.seek(0)
        log = self.log.read().decode(errors="replace")
        self.__exit__(None, None, None)
        raise SystemExit(f"gen_vectors worker: moto_server did not answer on {url}:\n{log}")

    def __exit__(self, *exc: Any) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def main_store(endpoint: str, table_name: str) -> tuple[Any, Any]:
    """An MlflowClient on the `main` store (tracking URI dynamodb://ENDPOINT/TABLE:
    the store creates the table) and a boto3 Table to read what it wrote."""
    os.environ.update({
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
        "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
    })
    for var in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        os.environ.pop(var, None)
    import boto3
    from mlflow.tracking import MlflowClient

    uri = f"dynamodb://{endpoint}/{table_name}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.search_experiments()  # the store deploys its table on first use
    table = boto3.resource("dynamodb", endpoint_url=endpoint, region_name="us-east-1").Table(table_name)
    return client, table


def read_item(table: Any, pk: str, sk: str) -> dict[str, Any]:
    item = table.get_item(Key={"PK": pk, "SK": sk}, ConsistentRead=True).get("Item")
    if item is None:
        raise SystemExit(f"gen_vectors worker: no item {pk} / {sk}")
    return item


def drive_tag_maps(client: Any, table: Any, batches: list[list[dict[str, str]]]) -> list[dict[str, Any]]:
    """One experiment per batch; set_experiment_tag for each (key, value),
    then read the maps of its E#META item."""
    records = []
    for i, batch in enumerate(batches):
        exp_id = client.create_experiment(f"parity-tag-maps-{i:04d}")
        for case in batch:
            client.set_experiment_tag(exp_id, case["key"], case["value"])
        meta = read_item(table, f"EXP#{exp_id}", "E#META")
        for case in batch:
            rec: dict[str, Any] = {"key": case["key"], "value": case["value"]}
            for attr in ("tags", "tags_lower", "tags_lower_rev"):
                got = meta.get(attr, {}).get(case["key"])
                if not isinstance(got, str):
                    raise SystemExit(f"gen_vectors worker: E#META of experiment {exp_id} has no string "
                                     f"{attr}[{case['key']!r}] after set_experiment_tag (got {got!r})")
                rec[attr] = got
            records.append(rec)
        progress("experiment tags", len(records) - len(batch), len(records), sum(map(len, batches)))
    return records


def progress(what: str, before: int, done: int, total: int) -> None:
    if done == total or done // 250 != before // 250:
        print(f"gen_vectors worker: {what} {done}/{total}", file=sys.stderr, flush=True)


RUN_NAME_SENTINEL = "\ufdd0gen_vectors: not written by the store\ufdd0"
RUN_NAME_CASES_PER_RUN = 100


def drive_run_name_sync(client: Any, table: Any, cases: list[dict[str, str]]) -> list[dict[str, Any]]:
    """set_tag(run, key, value) on a run whose run_name and lsi4sk hold a
    sentinel; whatever still holds it afterwards the store did not write (null)."""
    exp_id = client.create_experiment("parity-run-name-sync")
    records = []
    run_id = ""
    for i, case in enumerate(cases):
        if i % RUN_NAME_CASES_PER_RUN == 0:
            run_id = client.create_run(exp_id, run_name=f"parity-run-{i // RUN_NAME_CASES_PER_RUN}").info.run_id
        key = {"PK": f"EXP#{exp_id}", "SK": f"R#{run_id}"}
        table.update_item(
            Key=key, UpdateExpression="SET run_name = :s, lsi4sk = :s",
            ConditionExpression="attribute_exists(PK)", ExpressionAttributeValues={":s": RUN_NAME_SENTINEL},
        )
        client.set_tag(run_id, case["key"], case["value"])
        item = read_item(table, key["PK"], key["SK"])
        rec: dict[str, Any] = {"key": case["key"], "value": case["value"]}
        for attr in ("run_name", "lsi4sk"):
            got = item.get(attr)
            if not isinstance(got, str):
                raise SystemExit(f"gen_vectors worker: run {run_id} lost its {attr} after set_tag (got {got!r})")
            rec[attr] = None if got == RUN_NAME_SENTINEL else got
        records.append(rec)
        progress("run tags", i, i + 1, len(cases))
    return records


# ---------------------------------------------------------------------------
# main-format source: the installed oracle in .venv-main
# ---------------------------------------------------------------------------


def main_python(args: argparse.Namespace) -> Path:
    """The interpreter of the venv holding the `main` store, or exit loudly."""
    py = Path(args.main_python or os.environ.get("MAIN_PYTHON") or DEFAULT_MAIN_PYTHON)
    if not py.is_file():
        sys.exit(f"gen_vectors: no main-format oracle: {py} does not exist. Run scripts/oracle-main.sh "
                 "(or `make vectors`) to install it; the main vectors cannot be made without it.")
    return py


def run_main(py: Path, request: dict[str, Any]) -> dict[str, Any]:
    env = dict(os.environ, PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run(  # its stderr (progress, errors) goes straight to ours
        [str(py), "-I", str(Path(__file__).resolve()), "--main-worker"],
        input=json.dumps(request, ensure_ascii=False).encode("utf-8"), stdout=subprocess.PIPE, env=env,
    )
    if proc.returncode != 0:
        sys.exit(f"gen_vectors: main worker ({py}) failed with status {proc.returncode} (its messages are above)")
    return json.loads(proc.stdout.decode("utf-8"))


# ---------------------------------------------------------------------------
# README
# ---------------------------------------------------------------------------

README_TEMPLATE = """# Parity vectors

Generated by `scripts/gen_vectors.py` (`make vectors`, i.e.
`scripts/venv.sh reference main && .venv/bin/python scripts/gen_vectors.py`)
by calling the reference stores' own code. Do not edit by hand: rerun the
script. Output is deterministic (seed {seed}, sorted records, gzip with mtime 0);
a rerun with the same versions gives byte-identical files.

`v0.1`: mlflow-dynamodbstore {v_pkg} (PyPI) in `.venv`, snowballstemmer
{v_snow} (pure-Python English stemmer, PyStemmer absent), Python {v_py},
mlflow {v_mlflow} (whose installed source tree supplies the English word pool).

`main`: mlflow-dynamodbstore {m_pkg}, i.e. zeroae/mlflow-dynamodbstore at
commit `{main_commit}`, installed into `.venv-main` by `scripts/oracle-main.sh`
(the wheel `../shared/oracle/{main_wheel}`, sha256 `{main_wheel_sha}`, or else a
build of that commit; the generator refuses any install whose `dynamodb/fts.py`
or `tracking_store.py` differs from the commit's), with mlflow {m_mlflow},
snowballstemmer {m_snow}, moto {m_moto}, boto3 {m_boto3}. It runs in a
subprocess with that venv's Python (the two packages share a module name).
`tokens`, `fts_items` and `fts_diff` call its functions; `tag_maps` and
`run_name_sync` drive the real store (`MlflowClient` with the tracking URI
`dynamodb://http://127.0.0.1:PORT/<table>`, a table per category, created by
the store) against `moto_server` started from that venv on a free loopback
port, and read back the items it wrote. Its code is not in this repository.

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
- `main/tag_maps.jsonl.gz`: `{{"key": str, "value": str, "tags": str,
  "tags_lower": str, "tags_lower_rev": str}}`: after
  `MlflowClient().set_experiment_tag(experiment_id, key, value)`, the entries
  `tags[key]`, `tags_lower[key]` and `tags_lower_rev[key]` of the experiment's
  `E#META` item (read with a consistent GetItem). The store computes them
  inline in `_write_experiment_tag` (`value.lower() if value else ""` and its
  `[::-1]`), so the store itself is run rather than a function. Each
  experiment holds at most one tag per key, so no entry is overwritten.
  Sorted by `(value, key)`.
- `main/run_name_sync.jsonl.gz`: `{{"key": str, "value": str, "run_name": str |
  null, "lsi4sk": str | null}}`: the run item's `run_name` and `lsi4sk` after
  `MlflowClient().set_tag(run_id, key, value)`; null when the store did not
  write the attribute (the generator puts a sentinel in both right before the
  call; the store writes both or neither). Sorted by `(key, value)`.

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

- tag_maps (values): every code point of planes 0-3 and U+E0000..U+E01FF
  (surrogates excluded) in runs of 256 consecutive code points; Greek sigma
  in final and non-final contexts (next to case-ignorable characters: soft
  hyphen, apostrophe, combining marks, ZWJ, U+0345), Turkish `İ`/`ı`, `ß`/`ẞ`,
  ligatures, title-case digraphs, characters whose lowercase is longer,
  combining marks, emoji (ZWJ sequences, flags), CJK, RTL and bidi controls,
  NUL, noncharacters, the non-ASCII samples of the token texts with their
  `upper()`, `lower()`, `title()`, `swapcase()` and `casefold()`, generated
  names and values, random code points, empty and blank strings, and texts of
  1,000 and 4,000 characters. Keys: the `fts_items` tag keys MLflow accepts.
- run_name_sync: `mlflow.runName` with most of those values (up to 300
  characters; empty included), generated run names, and keys that only look
  like it (`mlflow.runname`, `MLFLOW.RUNNAME`, `mlflow.runName ` with a
  space, `runName`, `run_name`, ...) and other tags, empty values included.

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
- `tags_lower` and `lsi4sk` are CPython's `str.lower()` (here 3.11, Unicode
  14.0; 3.12 and 3.13 lower every code point and every value here alike): full
  mappings (`İ` -> `i` + U+0307, final sigma `ς` by context). The sweep found
  55 letters it leaves as they are that Rust's `to_lowercase` (Unicode 17)
  lowers: U+1C89, U+A7CB, U+A7CC, U+A7CE, U+A7D2, U+A7D4, U+A7DA, U+A7DC,
  U+10D50..U+10D65 (Garay) and U+16EA0..U+16EB8, mappings Unicode 16 and 17
  added (`tags::python_lower` keeps them). A store on CPython 3.14 (Unicode
  16) would lower some of them.
- `tags_lower` of an empty value is `""` (`value.lower() if value else ""`);
  an empty or non-`mlflow.runName` run tag leaves `run_name` and `lsi4sk`
  alone, a blank one (`" "`) sets them.
- v0.1 forward SK: `FTS#<l>#<tok>#<t>#<id>[#<f>]`; main: `FTS#<l>#<t>#<tok>#<id>[#<f>]`;
  reverse SKs identical; `gsi2sk` = forward SK without `FTS#`; `gsi2pk` =
  `FTS_NAMES#<workspace>` (Python `str(None)` = `None` if workspace is null).
"""


def write_readme(out: Path, versions: dict[str, str], counts: dict[str, int], v01_sig: str, main_sig: str, main_versions: dict[str, str]) -> None:
    rows = "\n".join(f"| `{name}` | {n} |" for name, n in sorted(counts.items()))
    text = README_TEMPLATE.format(
        seed=SEED, v_pkg=versions["mlflow-dynamodbstore"], v_snow=versions["snowballstemmer"],
        v_py=versions["python"], v_mlflow=versions["mlflow"], main_commit=MAIN_COMMIT,
        count_rows=rows, v01_sig=v01_sig, main_sig=main_sig, main_wheel=MAIN_WHEEL,
        main_wheel_sha=MAIN_WHEEL_SHA256,
        m_pkg=main_versions["mlflow-dynamodbstore"].split("+")[0], m_mlflow=main_versions["mlflow"],
        m_snow=main_versions["snowballstemmer"], m_moto=main_versions["moto"], m_boto3=main_versions["boto3"],
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
    ap.add_argument("--main-python", help=f"Python of the venv holding the main store (or env MAIN_PYTHON; default {DEFAULT_MAIN_PYTHON.relative_to(ROOT)})")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    ap.add_argument("--main-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.main_worker:
        main_worker()
        return

    versions = check_versions()
    main_py = main_python(args)
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
    map_gen = Gen(random.Random(SEED + 7), pools)
    map_values = lower_values(map_gen)
    map_batches = tag_map_batches(map_values, map_tag_keys())
    rn_cases = run_name_cases(Gen(random.Random(SEED + 8), pools), map_values)

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

    print(f"gen_vectors: main format from the store installed for {main_py} "
          f"({sum(map(len, map_batches))} experiment tags, {len(rn_cases)} run tags against moto)", file=sys.stderr)
    res = run_main(main_py, {
        "texts": texts, "fts_items": main_fts, "fts_diff": main_diff,
        "tag_maps": map_batches, "run_name_sync": rn_cases,
    })
    if res["signature"] != MAIN_SIG_EXPECTED:
        sys.exit(f"gen_vectors: unexpected main signature {res['signature']}")
    mv = res["versions"]
    print(f"gen_vectors: main worker used {mv}", file=sys.stderr)
    if mv["snowballstemmer"] != EXPECTED_VERSIONS["snowballstemmer"]:
        sys.exit(f"gen_vectors: {main_py} has snowballstemmer {mv['snowballstemmer']}, need "
                 f"{EXPECTED_VERSIONS['snowballstemmer']} (run scripts/oracle-main.sh)")
    if mv["mlflow"] != EXPECTED_MLFLOW:
        print(f"gen_vectors: WARNING {main_py} has mlflow {mv['mlflow']}, the committed vectors "
              f"were made with {EXPECTED_MLFLOW}", file=sys.stderr)
    put("main/tokens.jsonl.gz", res["tokens"])
    put("main/fts_items.jsonl.gz", res["fts_items"])
    put("main/fts_diff.jsonl.gz", res["fts_diff"])
    put("main/tag_maps.jsonl.gz", sort_records(res["tag_maps"], ("value", "key")))
    put("main/run_name_sync.jsonl.gz", sort_records(res["run_name_sync"], ("key", "value")))
    # Cross-check: the W and 3 levels must agree with v0.1 on every text.
    for a, b in zip(v01_out["tokens"], res["tokens"]):
        if a["text"] != b["text"] or a["W"] != b["W"] or a["3"] != b["3"]:
            print(f"gen_vectors: NOTE main and v0.1 tokens differ for {a['text']!r}", file=sys.stderr)

    write_readme(out, versions, counts, v01_sig, MAIN_SIG_EXPECTED, res["versions"])

    total = 0
    print("gen_vectors: wrote", out)
    for rel in sorted(counts):
        size = (out / rel).stat().st_size
        total += size
        print(f"  {rel:32s} {counts[rel]:7d} records {size:10d} bytes")
    print(f"  {'total':32s} {'':7s}         {total:10d} bytes")


if __name__ == "__main__":
    main()
