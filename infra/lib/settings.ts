// Settings of the app, read once from CDK context (`--context key=value` or cdk.json).
// Every value is validated here, so a typo fails the synth with a message instead of a
// half-configured stack.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The three functions; folder, crate, binary, Lambda function and construct share the name. */
export const FUNCTIONS = ['materializer', 'ttl-sweeper', 'indexer'] as const;
export type FunctionName = (typeof FUNCTIONS)[number];

/** Default schedule of the ttl-sweeper: daily at 03:00 UTC. */
export const DEFAULT_CLEANUP_SCHEDULE = 'cron(0 3 * * ? *)';

// Namespace of the EMF metrics the functions print (NAMESPACE in each function crate).
export const METRIC_NAMESPACE = 'mlflow-dynamodbstore';

/** The table formats the functions serve; `auto` detects it at start (DescribeTable). */
export const TABLE_FORMATS = ['auto', 'v0.1', 'main'] as const;
export type TableFormat = (typeof TABLE_FORMATS)[number];

export interface StreamSettings {
  /**
   * An explicit stream ARN (`--context table-stream-arn`). Unset, the stack reads the table's
   * current stream at deploy time (lib/table-stream.ts).
   */
  streamArn?: string;
  /** Turn on a NEW_AND_OLD_IMAGES stream at deploy time when the table has none. */
  enableStream: boolean;
  batchSize: number;
  batchingWindowSeconds: number;
  parallelizationFactor: number;
  maxRetryAttempts: number;
  maxRecordAgeSeconds: number;
  /** Alarm when the oldest record waits longer than this. */
  iteratorAgeAlarmSeconds: number;
  /** Attach the DLQ and the on-failure queue as SQS event sources (replay in Lambda). */
  dlqReplay: boolean;
}

export interface CleanupSettings {
  /** EventBridge schedule expression: `rate(...)` or `cron(...)`. */
  schedule: string;
  /** The rule's constant input; only the options that were set. */
  input: { dry_run?: boolean; segments?: number; max_items?: number; breaker_fraction?: number };
}

/**
 * A migration (issue #11) of the v0.1 table `table` (S, only ever read) into the new `main` table
 * `target` (T): copy segments run by the indexer's state machine, and the sync, a materializer
 * (`MigrateSync`) carrying S's stream into T.
 */
export interface MigrateSettings {
  /** T, the table written (`--context migrate-target`). */
  target: string;
  /** MIGRATE_SINCE_MS: the sync skips stream records created before this (epoch ms). */
  sinceMs?: number;
  /**
   * Deploy the sync (MigrateSync and its mapping on S's stream). `migrate-sync=false` holds it back
   * while a copy runs in the state machine: a record carried during the copy could be overwritten
   * by the copy's older scan of the same item, so the mapping is created once the copy is done.
   */
  sync: boolean;
  /** The sync's mapping (the same context keys as the materializer's); unset without the sync. */
  stream?: StreamSettings;
}

export interface Settings {
  stackName: string;
  table: string;
  tableFormat: TableFormat;
  /** Directory holding `<function>/bootstrap.zip` (make build) or `<function>/bootstrap`. */
  lambdaAssets: string;
  streams?: StreamSettings;
  cleanup?: CleanupSettings;
  /** A migration out of `table`: then nothing in the stack may write `table`. */
  migrate?: MigrateSettings;
  /** Parallel segments the indexer state machine runs at once. */
  indexerConcurrency: number;
  /** Optional SNS topic ARN that every alarm notifies. */
  alarmTopicArn?: string;
  logRetentionDays: number;
}

/** What `tryGetContext` gives: strings from the command line, any JSON from cdk.json. */
export type Context = (key: string) => unknown;

class SettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SettingsError';
  }
}

function str(ctx: Context, key: string): string | undefined {
  const v = ctx(key);
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'string') return v.trim();
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new SettingsError(`--context ${key}: expected a string, got ${JSON.stringify(v)}`);
}

function bool(ctx: Context, key: string, dflt: boolean): boolean {
  const v = str(ctx, key);
  if (v === undefined) return dflt;
  const l = v.toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(l)) return true;
  if (['false', '0', 'no', 'off'].includes(l)) return false;
  throw new SettingsError(`--context ${key}=${v}: expected true or false`);
}

function num(ctx: Context, key: string, dflt: number, min: number, max: number, integer = true): number {
  const v = str(ctx, key);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || n > max) {
    throw new SettingsError(
      `--context ${key}=${v}: expected ${integer ? 'an integer' : 'a number'} in [${min}, ${max}]`,
    );
  }
  return n;
}

function optNum(ctx: Context, key: string, min: number, max: number, integer = true): number | undefined {
  return str(ctx, key) === undefined ? undefined : num(ctx, key, 0, min, max, integer);
}

/** The values CloudWatch Logs accepts for a log group's retention, in days. */
export const RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

function retentionDays(ctx: Context): number {
  const d = num(ctx, 'log-retention-days', 30, 1, 3653);
  if (!RETENTION_DAYS.includes(d)) {
    throw new SettingsError(`--context log-retention-days=${d}: CloudWatch Logs accepts ${RETENTION_DAYS.join(', ')}`);
  }
  return d;
}

const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;

const stackPart = (table: string) => table.replace(/[^A-Za-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');

/**
 * A CloudFormation stack name for `table` (letters, digits, hyphens; 128 at most). A migration out of
 * `table` into `target` is a stack of its own, so deploying it leaves the suite's stack on `table`
 * (its materializer and sweeper, which write the table) as it is, and destroying it after the
 * cutover removes only the migration.
 */
export function stackNameFor(table: string, target?: string): string {
  const name = target === undefined
    ? `mlflow-ops-${stackPart(table)}`
    : `mlflow-migrate-${stackPart(table)}-to-${stackPart(target)}`;
  return name.slice(0, 128);
}

/** The stream mapping's settings; `table-stream-arn`, when given, must be a stream of `table`. */
function streamSettings(ctx: Context, table: string, streamArn: string | undefined, enableStream: boolean): StreamSettings {
  if (streamArn !== undefined) {
    const arnShape = /^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:\d{12}:table\/([A-Za-z0-9_.-]+)\/stream\/\S+$/;
    const m = arnShape.exec(streamArn);
    if (!m || m[1] !== table) {
      throw new SettingsError(
        `--context table-stream-arn=${streamArn}: not a stream ARN of table ${table}`,
      );
    }
    if (enableStream) {
      throw new SettingsError(
        '--context enable-stream=true and table-stream-arn=<arn> exclude each other: the ARN pins ' +
          'a stream that exists, enable-stream creates one; pass one of them',
      );
    }
  }
  return {
    streamArn,
    enableStream,
    batchSize: num(ctx, 'batch-size', 100, 1, 10000),
    batchingWindowSeconds: num(ctx, 'batching-window-seconds', 1, 0, 300),
    parallelizationFactor: num(ctx, 'parallelization-factor', 1, 1, 10),
    maxRetryAttempts: num(ctx, 'max-retry-attempts', 10, 0, 10000),
    maxRecordAgeSeconds: num(ctx, 'max-record-age-seconds', 21600, 60, 604800),
    iteratorAgeAlarmSeconds: num(ctx, 'iterator-age-alarm-seconds', 300, 1, 604800),
    dlqReplay: bool(ctx, 'dlq-replay', false),
  };
}

/**
 * `migrate-target` and its options, or undefined. The stack then writes only T: what would write S
 * (the materializer, the sweeper, enable-stream's UpdateTable) is refused, naming where it belongs.
 */
function migrateSettings(
  ctx: Context,
  table: string,
  tableFormat: TableFormat,
  streamArn: string | undefined,
  enableStream: boolean,
): MigrateSettings | undefined {
  const target = str(ctx, 'migrate-target');
  if (target === undefined) {
    for (const key of ['migrate-since-ms', 'migrate-sync']) {
      if (str(ctx, key) !== undefined) {
        throw new SettingsError(`--context ${key} needs --context migrate-target=<table>: it configures the migration's sync`);
      }
    }
    return undefined;
  }
  if (!TABLE_NAME.test(target)) {
    throw new SettingsError(`--context migrate-target=${target}: not a DynamoDB table name`);
  }
  if (target === table) {
    throw new SettingsError(
      `--context migrate-target=${target} is the table itself: a migration reads table=<source> (the v0.1 ` +
        'table, never written) and writes migrate-target=<new table>; pass the new main table',
    );
  }
  // What would write S: refused, each with where it belongs.
  const suite = `keep the suite on ${table} in its own stack (${stackNameFor(table)}), which this one leaves alone`;
  const writesSource: Array<[boolean, string, string]> = [
    [bool(ctx, 'streams', false), 'streams=true', `the materializer writes its derived items; ${suite}`],
    [bool(ctx, 'scheduled-cleanup', false), 'scheduled-cleanup=true', `the ttl-sweeper expires its items; ${suite}`],
    [enableStream, 'enable-stream=true',
      `enable-stream is an UpdateTable of it; turn the stream on first: preflight enable-stream --table ${table}`],
  ];
  for (const [given, flag, why] of writesSource) {
    if (given) {
      throw new SettingsError(
        `--context ${flag} with migrate-target: a migration stack never writes its source ${table}, and ${why}`,
      );
    }
  }
  if (tableFormat === 'main') {
    throw new SettingsError(
      `--context migrate-target with table-format=main: the migration reads a v0.1 table into a main one; ` +
        `${table} must be v0.1 (table-format=auto or v0.1)`,
    );
  }
  const sync = bool(ctx, 'migrate-sync', true);
  if (!sync && streamArn !== undefined) {
    throw new SettingsError(
      '--context table-stream-arn with migrate-sync=false: without the sync nothing reads the stream; ' +
        'pass the ARN with the deploy that adds the sync',
    );
  }
  return {
    target,
    sinceMs: optNum(ctx, 'migrate-since-ms', 0, Number.MAX_SAFE_INTEGER),
    sync,
    stream: sync ? streamSettings(ctx, table, streamArn, false) : undefined,
  };
}

/** Read and validate every setting. Throws with a message naming the context key. */
export function readSettings(ctx: Context, appDir: string): Settings {
  if (bool(ctx, 'opensearch', false)) {
    throw new SettingsError(
      '--context opensearch=true is refused: no version of mlflow-dynamodbstore has a search backend ' +
        'that reads an OpenSearch index, so an index would cost its ~2 OCU minimum and serve no query. ' +
        'Search keeps working without it: the reference store answers name and tag searches from the ' +
        'FTS items (word and trigram tokens) in the table itself, which the materializer keeps current. ' +
        'Deploy without opensearch',
    );
  }
  const table = str(ctx, 'table');
  if (!table) {
    throw new SettingsError(
      '--context table=<name> is required: the existing table created by mlflow-dynamodbstore',
    );
  }
  if (!TABLE_NAME.test(table)) {
    throw new SettingsError(`--context table=${table}: not a DynamoDB table name`);
  }
  const tableFormat = (str(ctx, 'table-format') ?? 'auto') as TableFormat;
  if (!TABLE_FORMATS.includes(tableFormat)) {
    throw new SettingsError(`--context table-format=${tableFormat}: expected auto, v0.1 or main`);
  }

  let streams: StreamSettings | undefined;
  const enableStream = bool(ctx, 'enable-stream', false);
  const streamArn = str(ctx, 'table-stream-arn');
  const migrate = migrateSettings(ctx, table, tableFormat, streamArn, enableStream);
  if (bool(ctx, 'streams', false)) {
    streams = streamSettings(ctx, table, streamArn, enableStream);
  } else if (migrate === undefined && (enableStream || streamArn !== undefined)) {
    throw new SettingsError(
      `--context ${enableStream ? 'enable-stream=true' : 'table-stream-arn'} needs --context ` +
        'streams=true: only a stream consumer reads the stream (or migrate-target, whose sync does)',
    );
  }

  let cleanup: CleanupSettings | undefined;
  if (bool(ctx, 'scheduled-cleanup', false)) {
    const schedule = str(ctx, 'cleanup-schedule') ?? DEFAULT_CLEANUP_SCHEDULE;
    if (!/^(rate|cron)\(.+\)$/.test(schedule)) {
      throw new SettingsError(
        `--context cleanup-schedule=${schedule}: expected an EventBridge expression, ` +
          'e.g. "rate(1 day)" or "cron(0 3 * * ? *)"',
      );
    }
    const input: CleanupSettings['input'] = {};
    const dry = str(ctx, 'cleanup-dry-run');
    if (dry !== undefined) input.dry_run = bool(ctx, 'cleanup-dry-run', false);
    const segments = optNum(ctx, 'cleanup-segments', 1, 1000000);
    if (segments !== undefined) input.segments = segments;
    const maxItems = optNum(ctx, 'cleanup-max-items', 1, Number.MAX_SAFE_INTEGER);
    if (maxItems !== undefined) input.max_items = maxItems;
    const fraction = optNum(ctx, 'cleanup-breaker-fraction', 0, 1, false);
    if (fraction !== undefined) input.breaker_fraction = fraction;
    cleanup = { schedule, input };
  }

  const assets = str(ctx, 'lambda-assets') ?? path.join('..', 'target', 'lambda');
  const alarmTopicArn = str(ctx, 'alarm-topic-arn');
  if (alarmTopicArn !== undefined && !/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:\S+$/.test(alarmTopicArn)) {
    throw new SettingsError(`--context alarm-topic-arn=${alarmTopicArn}: not an SNS topic ARN`);
  }
  return {
    stackName: str(ctx, 'stack-name') ?? stackNameFor(table, migrate?.target),
    table,
    tableFormat,
    lambdaAssets: path.resolve(appDir, assets),
    streams,
    cleanup,
    migrate,
    indexerConcurrency: num(ctx, 'indexer-concurrency', 4, 1, 40),
    alarmTopicArn,
    logRetentionDays: retentionDays(ctx),
  };
}

/**
 * The code asset of `fn`: `<lambdaAssets>/<fn>/bootstrap.zip` as built by `make build`, or a
 * directory `<lambdaAssets>/<fn>/` holding a `bootstrap` (the tests' stubs; CDK zips it).
 * Never builds Rust: synth stays fast and needs no toolchain.
 */
export function assetPath(lambdaAssets: string, fn: FunctionName): string {
  const zip = path.join(lambdaAssets, fn, 'bootstrap.zip');
  if (fs.existsSync(zip)) return zip;
  const dir = path.join(lambdaAssets, fn);
  if (fs.existsSync(path.join(dir, 'bootstrap'))) return dir;
  throw new SettingsError(
    `no code for ${fn}: neither ${zip} nor ${path.join(dir, 'bootstrap')} exists; run ` +
      '`make build` at the repository root, or pass --context lambda-assets=<dir>',
  );
}
