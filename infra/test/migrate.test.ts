// `--context migrate-target=T` (issue #11): the copy (indexer, state machine) and the sync
// (MigrateSync, the materializer's code on S's stream) of a migration of S (`table`) into T, in a
// stack that only reads S.
import { Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { readSettings, stackNameFor } from '../lib/settings';
import {
  INFRA_DIR,
  STREAM_ARN,
  STUB_ASSETS,
  actionsOf,
  fullContext,
  functionId,
  roleStatements,
  synth,
} from './helpers';

type Json = Record<string, unknown>;
type Template = ReturnType<typeof synth>['template'];

const SINCE_MS = '1767225600000';

/** A migration of `mlflow` into `mlflow-main`, the sync's stream read at deploy time. */
function migrateContext(extra: Record<string, string> = {}): Record<string, string> {
  return { table: 'mlflow', 'migrate-target': 'mlflow-main', 'lambda-assets': STUB_ASSETS, ...extra };
}

const read = (ctx: Record<string, unknown>) => readSettings((k) => ctx[k], INFRA_DIR);

function refused(ctx: Record<string, unknown>, message: RegExp) {
  assert.throws(() => read(ctx), message, JSON.stringify(ctx));
}

/** The table ARNs of the migration stack, resolved as they appear in its template. */
function arns(s: ReturnType<typeof synth>) {
  const table = (name: string) => s.stack.formatArn({ service: 'dynamodb', resource: 'table', resourceName: name });
  return {
    source: s.stack.resolve(table('mlflow')),
    sourceGsi2: s.stack.resolve(`${table('mlflow')}/index/gsi2`),
    target: s.stack.resolve(table('mlflow-main')),
    targetGsi2: s.stack.resolve(`${table('mlflow-main')}/index/gsi2`),
  };
}

/** statements → {resource (JSON) → sorted actions}, logs aside; every statement an Allow. */
function byResource(statements: Json[]): Record<string, string[]> {
  const m: Record<string, string[]> = {};
  for (const st of statements) {
    assert.equal(st.Effect, 'Allow');
    if (actionsOf(st).every((a) => a.startsWith('logs:'))) continue;
    for (const r of Array.isArray(st.Resource) ? st.Resource : [st.Resource]) {
      const key = JSON.stringify(r);
      m[key] = [...(m[key] ?? []), ...actionsOf(st)].sort();
    }
  }
  return m;
}

function expected(entries: Array<[unknown, string[]]>): Record<string, string[]> {
  return Object.fromEntries(entries.map(([r, a]) => [JSON.stringify(r), [...a].sort()]));
}

/** Every statement of every IAM policy of the template (inline role policies included). */
function allStatements(template: Template): Json[] {
  const out: Json[] = [];
  for (const p of Object.values(template.findResources('AWS::IAM::Policy'))) {
    out.push(...(((p.Properties as Json).PolicyDocument as Json).Statement as Json[]));
  }
  for (const r of Object.values(template.findResources('AWS::IAM::Role'))) {
    for (const p of ((r.Properties as Json).Policies as Json[] | undefined) ?? []) {
      out.push(...((p.PolicyDocument as Json).Statement as Json[]));
    }
  }
  return out;
}

/** The DynamoDB actions granted on table `name`'s ARN or any ARN under it (indexes, streams). */
function actionsOnTable(template: Template, name: string): string[] {
  const mentions = (r: unknown) => {
    const text = JSON.stringify(r);
    return text.includes(`:table/${name}"`) || text.includes(`:table/${name}/`);
  };
  const actions = new Set<string>();
  for (const st of allStatements(template)) {
    const resources = Array.isArray(st.Resource) ? st.Resource : [st.Resource];
    if (resources.some(mentions)) for (const a of actionsOf(st)) actions.add(a);
  }
  return [...actions].sort();
}

/** What may be done on S: reads, and the stream's reads. */
const READS = new Set([
  'dynamodb:DescribeTable',
  'dynamodb:Scan',
  'dynamodb:Query',
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:DescribeStream',
  'dynamodb:GetRecords',
  'dynamodb:GetShardIterator',
  'dynamodb:ListStreams',
]);

const STREAM = ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator', 'dynamodb:ListStreams'];
const SEND = ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'];

/** The state machine's definition, ARNs replaced by 'ARN'. */
function definition(s: ReturnType<typeof synth>): Json {
  const [sm] = Object.values(s.template.findResources('AWS::StepFunctions::StateMachine'));
  return JSON.parse(s.stack.resolve((sm.Properties as Json).DefinitionString)['Fn::Join'][1]
    .map((p: unknown) => (typeof p === 'string' ? p : 'ARN')).join(''));
}

describe('migrate-target settings', () => {
  it('reads the target, since-ms and the sync with the stream defaults, in a stack of its own', () => {
    const s = read(migrateContext({ 'migrate-since-ms': SINCE_MS }));
    assert.equal(s.table, 'mlflow');
    assert.equal(s.streams, undefined, 'no materializer on the source');
    assert.equal(s.cleanup, undefined);
    assert.deepEqual(s.migrate, {
      target: 'mlflow-main',
      sinceMs: 1767225600000,
      sync: true,
      stream: {
        streamArn: undefined,
        enableStream: false,
        batchSize: 100,
        batchingWindowSeconds: 1,
        parallelizationFactor: 1,
        maxRetryAttempts: 10,
        maxRecordAgeSeconds: 21600,
        iteratorAgeAlarmSeconds: 300,
        dlqReplay: false,
      },
    });
    // Not the suite's stack on S (mlflow-ops-mlflow): deploying the migration leaves it alone.
    assert.equal(s.stackName, 'mlflow-migrate-mlflow-to-mlflow-main');
    assert.equal(stackNameFor('a.b', 'c_d'), 'mlflow-migrate-a-b-to-c-d');
    assert.equal(read(migrateContext({ 'stack-name': 'mine' })).stackName, 'mine');
    assert.equal(read(migrateContext()).migrate?.sinceMs, undefined);
    assert.deepEqual(read(migrateContext({ 'migrate-sync': 'false' })).migrate,
      { target: 'mlflow-main', sinceMs: undefined, sync: false, stream: undefined });
  });

  it('refuses migrate-target equal to table, saying which table is which', () => {
    let message = '';
    try {
      read({ table: 'mlflow', 'migrate-target': 'mlflow', 'lambda-assets': STUB_ASSETS });
    } catch (e) {
      message = (e as Error).message;
    }
    assert.match(message, /^--context migrate-target=mlflow is the table itself/);
    assert.match(message, /reads table=<source> \(the v0\.1 table, never written\) and writes migrate-target=<new table>/);
  });

  it('refuses what would write the source, naming where it belongs, and a main source', () => {
    refused(migrateContext({ streams: 'true' }),
      /--context streams=true with migrate-target: a migration stack never writes its source mlflow, and the materializer writes its derived items; keep the suite on mlflow in its own stack \(mlflow-ops-mlflow\)/);
    refused(migrateContext({ 'scheduled-cleanup': 'true' }),
      /--context scheduled-cleanup=true with migrate-target: .*the ttl-sweeper expires its items/);
    refused(migrateContext({ 'enable-stream': 'true' }),
      /--context enable-stream=true with migrate-target: .*turn the stream on first: preflight enable-stream --table mlflow/);
    refused(migrateContext({ 'table-format': 'main' }), /table-format=main: the migration reads a v0\.1 table/);
    assert.equal(read(migrateContext({ 'table-format': 'v0.1' })).tableFormat, 'v0.1');
  });

  it('refuses migration options without migrate-target, and malformed values', () => {
    refused({ table: 'mlflow', 'migrate-since-ms': SINCE_MS }, /--context migrate-since-ms needs --context migrate-target=<table>/);
    refused({ table: 'mlflow', 'migrate-sync': 'false' }, /--context migrate-sync needs --context migrate-target=<table>/);
    refused(migrateContext({ 'migrate-target': 'a b' }), /--context migrate-target=a b: not a DynamoDB table name/);
    refused(migrateContext({ 'migrate-since-ms': '-1' }), /migrate-since-ms=-1: expected an integer/);
    refused(migrateContext({ 'migrate-since-ms': '1.5' }), /migrate-since-ms=1.5: expected an integer/);
    refused(migrateContext({ 'migrate-sync': 'later' }), /migrate-sync=later: expected true or false/);
    refused(migrateContext({ 'table-stream-arn': STREAM_ARN.replace('table/mlflow/', 'table/mlflow-main/') }),
      /not a stream ARN of table mlflow$/);
    refused(migrateContext({ 'migrate-sync': 'false', 'table-stream-arn': STREAM_ARN }),
      /table-stream-arn with migrate-sync=false: without the sync nothing reads the stream/);
    // The sync is a stream consumer: a pinned ARN needs no streams=true.
    assert.equal(read(migrateContext({ 'table-stream-arn': STREAM_ARN })).migrate?.stream?.streamArn, STREAM_ARN);
  });

  it('without migrate-target: no migration, the suite stack name', () => {
    const s = read(fullContext());
    assert.equal(s.migrate, undefined);
    assert.equal(s.stackName, 'mlflow-ops-mlflow');
  });
});

describe('migration stack: the sync (MigrateSync)', () => {
  it("runs the materializer's code, sized like it, with the migration's environment and its own DLQ", () => {
    const s = synth(migrateContext({ 'migrate-since-ms': SINCE_MS }));
    const fns = s.template.findResources('AWS::Lambda::Function');
    const sync = fns[functionId(s.template, 'migrate-sync')].Properties as Json;
    assert.deepEqual((sync.Environment as Json).Variables, {
      TABLE_NAME: 'mlflow',
      TABLE_FORMAT: 'auto',
      RUST_LOG: 'info',
      DLQ_URL: s.stack.resolve(s.stack.migrateSyncDlq!.queueUrl),
      MIGRATE_TARGET_TABLE: 'mlflow-main',
      MIGRATE_DIRECTION: 'to-main',
      MIGRATE_SINCE_MS: SINCE_MS,
    });
    const suite = synth(fullContext()).template;
    const materializer = suite.findResources('AWS::Lambda::Function')[functionId(suite, 'materializer')].Properties as Json;
    for (const k of ['Code', 'Runtime', 'Architectures', 'Handler', 'MemorySize', 'Timeout']) {
      assert.deepEqual(sync[k], materializer[k], k);
    }
    assert.equal(s.stack.materializer, undefined, 'no materializer on the source');
    assert.throws(() => functionId(s.template, 'materializer'), /none/);
    assert.throws(() => functionId(s.template, 'ttl-sweeper'), /none/);
  });

  it('has no MIGRATE_SINCE_MS unless migrate-since-ms is given', () => {
    const { template } = synth(migrateContext());
    const vars = ((template.findResources('AWS::Lambda::Function')[functionId(template, 'migrate-sync')]
      .Properties as Json).Environment as Json).Variables as Json;
    assert.ok(!('MIGRATE_SINCE_MS' in vars));
    assert.equal(vars.MIGRATE_TARGET_TABLE, 'mlflow-main');
  });

  it("reads S's stream (resolved at deploy like the materializer's) with the materializer's mapping settings", () => {
    const s = synth(migrateContext());
    const { template, stack } = s;
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
    template.resourceCountIs('Custom::TableStream', 1);
    const [crId] = Object.keys(template.findResources('Custom::TableStream'));
    const arn = { 'Fn::GetAtt': [crId, 'StreamArn'] };
    assert.deepEqual(stack.resolve(stack.tableStream!.streamArn), arn);
    const [mapping] = Object.values(template.findResources('AWS::Lambda::EventSourceMapping'))
      .map((m) => m.Properties as Json);
    // The same settings as the suite's materializer mapping: only the function and queue differ.
    const suite = synth(fullContext());
    const [reference] = Object.values(suite.template.findResources('AWS::Lambda::EventSourceMapping'))
      .map((m) => m.Properties as Json);
    assert.deepEqual(
      { ...mapping, FunctionName: 'F', DestinationConfig: 'D' },
      { ...reference, FunctionName: 'F', DestinationConfig: 'D' },
    );
    assert.deepEqual(mapping.EventSourceArn, arn);
    assert.deepEqual(mapping.FunctionName, { Ref: functionId(template, 'migrate-sync') });
    assert.deepEqual(mapping.DestinationConfig,
      { OnFailure: { Destination: stack.resolve(stack.migrateSyncOnFailureQueue!.queueArn) } });
    assert.equal(mapping.StartingPosition, 'TRIM_HORIZON');
    assert.equal(mapping.BisectBatchOnFunctionError, true);
    assert.deepEqual(mapping.FunctionResponseTypes, ['ReportBatchItemFailures']);
    assert.deepEqual(template.findOutputs('TableStreamArn').TableStreamArn.Value, arn);
  });

  it('takes a pinned table-stream-arn and the stream options; dlq-replay attaches both of its queues', () => {
    const { template, stack } = synth(migrateContext({
      'table-stream-arn': STREAM_ARN,
      'batch-size': '500',
      'parallelization-factor': '4',
      'dlq-replay': 'true',
    }));
    assert.equal(stack.tableStream, undefined);
    template.resourceCountIs('Custom::TableStream', 0);
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 3);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping',
      { EventSourceArn: STREAM_ARN, BatchSize: 500, ParallelizationFactor: 4 });
    for (const q of [stack.migrateSyncDlq!, stack.migrateSyncOnFailureQueue!]) {
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: stack.resolve(q.queueArn),
        FunctionName: { Ref: functionId(template, 'migrate-sync') },
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
    }
  });

  it("has its queues like the materializer's: encrypted, TLS-only, 14 days", () => {
    const { template } = synth(migrateContext());
    template.resourceCountIs('AWS::SQS::Queue', 2);
    template.allResourcesProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
      VisibilityTimeout: 720,
    });
    template.allResourcesProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('migrate-sync=false holds the sync back: no MigrateSync, mapping, queues or stream lookup', () => {
    const { template, stack } = synth(migrateContext({ 'migrate-sync': 'false' }));
    assert.equal(stack.migrateSync, undefined);
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 0);
    template.resourceCountIs('AWS::SQS::Queue', 0);
    template.resourceCountIs('Custom::TableStream', 0);
    template.resourceCountIs('AWS::Lambda::Function', 1);
    const indexer = template.findResources('AWS::Lambda::Function')[functionId(template, 'indexer')];
    assert.equal(((indexer.Properties as Json).Environment as Json as { Variables: Json }).Variables.TARGET_TABLE,
      'mlflow-main');
  });
});

describe('migration stack: the copy (indexer)', () => {
  it('gives the indexer TARGET_TABLE=T', () => {
    const { template } = synth(migrateContext());
    const indexer = template.findResources('AWS::Lambda::Function')[functionId(template, 'indexer')];
    assert.deepEqual(((indexer.Properties as Json).Environment as Json).Variables,
      { TABLE_NAME: 'mlflow', TABLE_FORMAT: 'auto', RUST_LOG: 'info', TARGET_TABLE: 'mlflow-main' });
  });

  it('the state machine defaults to copy, runs copy and verify segments through the same Map, refuses backfill', () => {
    const s = synth(migrateContext({ 'indexer-concurrency': '6' }));
    const def = definition(s) as { StartAt: string; States: Record<string, Json> };
    assert.equal(def.StartAt, 'Defaults');
    const defaults = (def.States.Defaults.Parameters as Json)['args.$'] as string;
    assert.match(defaults, /\{"mode":"copy","total_segments":8,"dry_run":false\}/);
    assert.equal(def.States.Defaults.Next, 'CheckMode');
    const check = def.States.CheckMode;
    assert.deepEqual(check.Choices, [{
      Or: [
        { Variable: '$.args.mode', StringEquals: 'copy' },
        { Variable: '$.args.mode', StringEquals: 'verify' },
      ],
      Next: 'Segments',
    }]);
    assert.equal(check.Default, 'ModeRefused');
    assert.equal(def.States.ModeRefused.Type, 'Fail');
    assert.match(def.States.ModeRefused.Cause as string,
      /only reads mlflow and copies it into mlflow-main: mode copy or verify; backfill mlflow-main once the copy is done/);
    // The segment loop is the suite's: the payload carries the mode, the response is the next request.
    const map = def.States.EachSegment as Json & { ItemProcessor: { States: Record<string, Json> } };
    assert.equal(map.MaxConcurrency, 6);
    assert.deepEqual(map.ItemSelector, {
      'mode.$': '$.args.mode',
      'segment.$': '$$.Map.Item.Value',
      'total_segments.$': '$.args.total_segments',
      'dry_run.$': '$.args.dry_run',
    });
    assert.deepEqual(map.ItemProcessor.States.MoreInSegment.Choices,
      [{ Variable: '$.done', BooleanEquals: false, Next: 'IndexSegment' }]);
  });

  it('without migrate-target the state machine is unchanged: backfill by default, no mode check', () => {
    const def = definition(synth(fullContext())) as { States: Record<string, Json> };
    assert.match((def.States.Defaults.Parameters as Json)['args.$'] as string, /"mode":"backfill"/);
    assert.equal(def.States.Defaults.Next, 'Segments');
    assert.equal(def.States.CheckMode, undefined);
    assert.equal(def.States.ModeRefused, undefined);
  });
});

describe('migration stack: IAM (S read-only, T exactly the listed actions)', () => {
  const synthed = synth(migrateContext());
  const { template, stack } = synthed;
  const a = arns(synthed);
  const streamArn = stack.resolve(stack.tableStream!.streamArn);

  it('MigrateSync: DescribeTable and GetItem on S, gsi2 Query on S and T, the sync actions on T, the stream, its queues', () => {
    assert.deepEqual(byResource(roleStatements(template, functionId(template, 'migrate-sync'))), expected([
      [a.source, ['dynamodb:DescribeTable', 'dynamodb:GetItem']],
      [a.sourceGsi2, ['dynamodb:Query']],
      [a.target, ['dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem', 'dynamodb:DescribeTable', 'dynamodb:GetItem',
        'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem']],
      [a.targetGsi2, ['dynamodb:Query']],
      [streamArn, STREAM],
      [stack.resolve(stack.migrateSyncDlq!.queueArn), SEND],
      [stack.resolve(stack.migrateSyncOnFailureQueue!.queueArn), SEND],
    ]));
  });

  it("indexer: reads of S (and its gsi2), the copy's writes and reads on T, no index of T", () => {
    assert.deepEqual(byResource(roleStatements(template, functionId(template, 'indexer'))), expected([
      [a.source, ['dynamodb:BatchGetItem', 'dynamodb:DescribeTable', 'dynamodb:GetItem', 'dynamodb:Query',
        'dynamodb:Scan']],
      [a.sourceGsi2, ['dynamodb:Query']],
      [a.target, ['dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem', 'dynamodb:GetItem', 'dynamodb:PutItem',
        'dynamodb:Query', 'dynamodb:UpdateItem']],
    ]));
  });

  it('no policy of the stack writes S (nor its indexes or stream), with any option', () => {
    for (const ctx of [
      migrateContext(),
      migrateContext({ 'table-stream-arn': STREAM_ARN, 'dlq-replay': 'true' }),
      migrateContext({ 'migrate-sync': 'false' }),
    ]) {
      const t = synth(ctx).template;
      const onSource = actionsOnTable(t, 'mlflow');
      assert.ok(onSource.length > 0);
      assert.deepEqual(onSource.filter((x) => !READS.has(x)), [], JSON.stringify(ctx));
    }
    // The check sees writes where there are some: the suite's own stack on S writes it.
    const suite = actionsOnTable(synth(fullContext({ 'enable-stream': 'true' })).template, 'mlflow');
    assert.deepEqual(suite.filter((x) => !READS.has(x)),
      ['dynamodb:BatchWriteItem', 'dynamodb:PartiQLUpdate', 'dynamodb:UpdateItem', 'dynamodb:UpdateTable']);
  });

  it('T is reached only by the indexer and MigrateSync; the stream lookup may only DescribeTable S', () => {
    const roles = Object.keys(template.findResources('AWS::Lambda::Function')).filter((id) =>
      roleStatements(template, id).some((st) => JSON.stringify(st.Resource).includes(':table/mlflow-main')));
    assert.deepEqual(roles.sort(), [functionId(template, 'indexer'), functionId(template, 'migrate-sync')].sort());
    const handler = Object.entries(template.findResources('AWS::Lambda::Function'))
      .find(([, f]) => (f.Properties as Json).Handler === 'index.handler')![0];
    const dynamo = roleStatements(template, handler).flatMap(actionsOf).filter((x) => x.startsWith('dynamodb:'));
    assert.deepEqual(dynamo, ['dynamodb:DescribeTable']);
  });
});

describe('migration stack: alarms and outputs', () => {
  it("MigrateSync has the materializer's four alarms, the copy its failed executions; nothing of the sweeper", () => {
    const topic = 'arn:aws:sns:us-east-1:123456789012:ops';
    const { template } = synth(migrateContext({ 'iterator-age-alarm-seconds': '120', 'alarm-topic-arn': topic }));
    const all = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((x) => x.Properties as Json);
    assert.deepEqual(all.map((x) => `${x.Namespace}/${x.MetricName}`).sort(), [
      'AWS/Lambda/Errors',
      'AWS/Lambda/IteratorAge',
      'AWS/SQS/ApproximateNumberOfMessagesVisible',
      'AWS/SQS/ApproximateNumberOfMessagesVisible',
      'AWS/States/ExecutionsFailed',
    ]);
    for (const x of all) {
      assert.deepEqual(x.AlarmActions, [topic]);
      assert.equal(x.ComparisonOperator, 'GreaterThanOrEqualToThreshold');
      assert.equal(x.TreatMissingData, 'notBreaching');
    }
    const lambdaAlarms = all.filter((x) => x.Namespace === 'AWS/Lambda');
    for (const x of lambdaAlarms) {
      assert.deepEqual(x.Dimensions, [{ Name: 'FunctionName', Value: { Ref: functionId(template, 'migrate-sync') } }]);
    }
    assert.equal(all.find((x) => x.MetricName === 'IteratorAge')!.Threshold, 120000);
    const dlq = all.find((x) => String(x.AlarmDescription).includes('DLQ'))!;
    assert.match(String(dlq.AlarmDescription),
      /migration sync DLQ: replay them \(MIGRATE_TARGET_TABLE=mlflow-main materializer replay --dlq-url \.\.\. --table mlflow\)/);
  });

  it('name what the runbook needs', () => {
    assert.deepEqual(Object.keys(synth(migrateContext()).template.findOutputs('*')).sort(), [
      'IndexerFunctionName',
      'IndexerStateMachineArn',
      'MigrateSyncDlqUrl',
      'MigrateSyncFunctionName',
      'MigrateSyncMappingUuid',
      'MigrateSyncOnFailureQueueUrl',
      'TableStreamArn',
    ]);
  });
});

describe('migration stack: cdk-nag AwsSolutions', () => {
  for (const [name, ctx] of [
    ['sync and copy', migrateContext({ 'migrate-since-ms': SINCE_MS })],
    ['pinned stream ARN, dlq replay, alarm topic', migrateContext({
      'table-stream-arn': STREAM_ARN, 'dlq-replay': 'true', 'alarm-topic-arn': 'arn:aws:sns:us-east-1:123456789012:ops' })],
    ['copy only (migrate-sync=false)', migrateContext({ 'migrate-sync': 'false' })],
  ] as const) {
    it(`has no unacknowledged finding (${name})`, () => {
      const { app, stack } = synth(ctx);
      const report = new AwsSolutionsChecks(app).validateScope(stack);
      assert.deepEqual(report.violations.map((v) => `${v.ruleName} ${JSON.stringify(v.violatingResources)}`), []);
    });
  }
});
