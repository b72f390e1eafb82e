// The synthesized stack: stream ARN, mapping settings, IAM, alarms, schedule, state machine, cdk-nag.
import { Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { aws_sqs as sqs } from 'aws-cdk-lib';

import { TABLE_ACTIONS } from '../lib/ops-stack';
import { STREAM_ARN, actionsOf, fullContext, functionId, pinnedContext, roleStatements, synth } from './helpers';

type Json = Record<string, unknown>;

/** The Fn::GetAtt of the stream ARN the custom resource reads (the guide's flags). */
function resolvedStreamArn(s: ReturnType<typeof synth>): unknown {
  return s.stack.resolve(s.stack.tableStream!.streamArn);
}

describe('stream ARN', () => {
  it("the guide's flags alone: one custom resource reads it; the mapping and the stream grant use it", () => {
    const guide = { table: 'mlflow', streams: 'true', 'scheduled-cleanup': 'true' };
    const s = synth({ ...guide, 'lambda-assets': fullContext()['lambda-assets'] });
    const { template } = s;
    const crs = template.findResources('Custom::TableStream');
    assert.equal(Object.keys(crs).length, 1);
    const [crId] = Object.keys(crs);
    const props = crs[crId].Properties as Json;
    assert.deepEqual(Object.keys(props).sort(), ['EnableStream', 'ServiceToken', 'TableName']);
    assert.equal(props.TableName, 'mlflow');
    assert.equal(props.EnableStream, 'false');
    const arn = { 'Fn::GetAtt': [crId, 'StreamArn'] };
    assert.deepEqual(resolvedStreamArn(s), arn);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { EventSourceArn: arn });
    const stream = roleStatements(template, functionId(template, 'materializer')).filter((st) =>
      actionsOf(st).includes('dynamodb:GetRecords'));
    assert.deepEqual(stream.map((st) => st.Resource), [arn]);
    assert.deepEqual(template.findOutputs('TableStreamArn').TableStreamArn.Value, arn);
    assert.ok(!JSON.stringify(template.toJSON()).includes(':stream/'), 'no stream ARN written into the template');
  });

  it('is re-read on every deploy: the deploy id (bin/app.ts passes the synth time) is a property', () => {
    const props = (id?: string) =>
      Object.values(synth(fullContext(), id).template.findResources('Custom::TableStream'))[0].Properties as Json;
    assert.equal(props().DeployId, undefined, 'stable template without one');
    assert.equal(props('2026-01-02T03:04:05.000Z').DeployId, '2026-01-02T03:04:05.000Z');
  });

  it('the handler: inline Node.js (the SDK of the runtime), may DescribeTable the one table and nothing else', () => {
    const { template, stack } = synth(fullContext());
    const tableArn = stack.resolve(stack.formatArn({ service: 'dynamodb', resource: 'table', resourceName: 'mlflow' }));
    const handlerId = handlerLogicalId(template);
    const handler = template.findResources('AWS::Lambda::Function')[handlerId].Properties as Json;
    assert.equal(handler.Runtime, 'nodejs24.x');
    assert.equal(handler.Handler, 'index.handler');
    const code = (handler.Code as Json).ZipFile as string;
    assert.match(code, /require\('@aws-sdk\/client-dynamodb'\)/);
    const statements = roleStatements(template, handlerId);
    const table = statements.filter((st) => !actionsOf(st).some((a) => a.startsWith('logs:')));
    assert.deepEqual(table.map((st) => [actionsOf(st), st.Resource]), [[['dynamodb:DescribeTable'], tableArn]]);
  });

  it('enable-stream=true adds the UpdateTable permission and the property that asks for the call, nothing else', () => {
    const plain = synth(fullContext()).template.toJSON();
    const enabling = synth(fullContext({ 'enable-stream': 'true' })).template;
    const handlerId = handlerLogicalId(enabling);
    const changed = Object.keys(enabling.toJSON().Resources).filter(
      (id) => JSON.stringify(enabling.toJSON().Resources[id]) !== JSON.stringify(plain.Resources[id]),
    );
    const [crId] = Object.keys(enabling.findResources('Custom::TableStream'));
    const [policyId] = Object.keys(enabling.findResources('AWS::IAM::Policy'))
      .filter((id) => id.startsWith('TableStreamHandlerRole'));
    assert.deepEqual(changed.sort(), [crId, policyId].sort());
    assert.deepEqual(Object.keys(enabling.toJSON().Resources).sort(), Object.keys(plain.Resources).sort());
    assert.equal((enabling.toJSON().Resources[crId].Properties as Json).EnableStream, 'true');
    const actions = roleStatements(enabling, handlerId).flatMap(actionsOf).filter((a) => a.startsWith('dynamodb:'));
    assert.deepEqual(actions.sort(), ['dynamodb:DescribeTable', 'dynamodb:UpdateTable']);
  });

  it('table-stream-arn wins when given: no custom resource, the pinned ARN in mapping, grant and output', () => {
    const { template, stack } = synth(pinnedContext());
    assert.equal(stack.tableStream, undefined);
    template.resourceCountIs('Custom::TableStream', 0);
    template.resourceCountIs('AWS::Lambda::Function', 3);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { EventSourceArn: STREAM_ARN });
    assert.deepEqual(template.findOutputs('TableStreamArn').TableStreamArn.Value, STREAM_ARN);
  });

  it('is not read without streams=true', () => {
    const { template } = synth({ table: 'mlflow', 'lambda-assets': fullContext()['lambda-assets'] });
    template.resourceCountIs('Custom::TableStream', 0);
  });
});

/** The logical id of the custom resource's handler (not the Provider framework's function). */
function handlerLogicalId(template: ReturnType<typeof synth>['template']): string {
  const ids = Object.entries(template.findResources('AWS::Lambda::Function'))
    .filter(([, f]) => (f.Properties as Json).Handler === 'index.handler')
    .map(([id]) => id);
  assert.equal(ids.length, 1);
  return ids[0];
}

describe('event source mapping', () => {
  it('reads the stream from TRIM_HORIZON with bisect, partial batch failures and an on-failure queue', () => {
    const s = synth(fullContext());
    const { template, stack } = s;
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
    const onFailure = stack.resolve(stack.onFailureQueue!.queueArn);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: resolvedStreamArn(s),
      FunctionName: { Ref: functionId(template, 'materializer') },
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 1,
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      MaximumRetryAttempts: 10,
      MaximumRecordAgeInSeconds: 21600,
      ParallelizationFactor: 1,
      DestinationConfig: { OnFailure: { Destination: onFailure } },
    });
  });

  it('takes batch size, window, parallelization, retries and record age from context', () => {
    const { template } = synth(
      fullContext({
        'batch-size': '500',
        'batching-window-seconds': '5',
        'parallelization-factor': '4',
        'max-retry-attempts': '3',
        'max-record-age-seconds': '3600',
      }),
    );
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 500,
      MaximumBatchingWindowInSeconds: 5,
      ParallelizationFactor: 4,
      MaximumRetryAttempts: 3,
      MaximumRecordAgeInSeconds: 3600,
    });
  });

  it('is absent without --context streams=true, and so are the materializer, its queues and the stream lookup', () => {
    const ctx = fullContext();
    delete ctx.streams;
    const { template } = synth(ctx);
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 0);
    template.resourceCountIs('AWS::SQS::Queue', 0);
    template.resourceCountIs('Custom::TableStream', 0);
    template.resourceCountIs('AWS::Lambda::Function', 2);
    assert.throws(() => functionId(template, 'materializer'), /none/);
  });

  it('attaches both queues as SQS sources only with dlq-replay=true', () => {
    const { template, stack } = synth(fullContext({ 'dlq-replay': 'true' }));
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 3);
    for (const q of [stack.dlq!, stack.onFailureQueue!]) {
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: stack.resolve(q.queueArn),
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
    }
  });
});

describe('queues', () => {
  it('are encrypted, TLS-only, kept 14 days, and the DLQ url reaches the materializer', () => {
    const { template, stack } = synth(fullContext());
    template.resourceCountIs('AWS::SQS::Queue', 2);
    template.allResourcesProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
      VisibilityTimeout: 720,
    });
    template.resourceCountIs('AWS::SQS::QueuePolicy', 2);
    template.allResourcesProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: {
          TABLE_NAME: 'mlflow',
          TABLE_FORMAT: 'auto',
          DLQ_URL: stack.resolve(stack.dlq!.queueUrl),
        },
      },
    });
  });
});

describe('functions', () => {
  it('run the Rust bootstrap on arm64 provided.al2023 with the table in their environment', () => {
    for (const format of ['auto', 'v0.1', 'main']) {
      const { template } = synth(pinnedContext({ 'table-format': format }));
      template.resourceCountIs('AWS::Lambda::Function', 3);
      template.allResourcesProperties('AWS::Lambda::Function', {
        Runtime: 'provided.al2023',
        Architectures: ['arm64'],
        Handler: 'bootstrap',
        Environment: { Variables: Match.objectLike({ TABLE_NAME: 'mlflow', TABLE_FORMAT: format }) },
      });
    }
  });
});

describe('IAM least privilege', () => {
  const synthed = synth(fullContext());
  const { template, stack } = synthed;
  const tableArn = stack.resolve(stack.formatArn({ service: 'dynamodb', resource: 'table', resourceName: 'mlflow' }));
  // Format detection samples forward FTS keys with one Query of gsi2.
  const gsi2Arn = stack.resolve(
    `${stack.formatArn({ service: 'dynamodb', resource: 'table', resourceName: 'mlflow' })}/index/gsi2`);
  const dlqArn = stack.resolve(stack.dlq!.queueArn);
  const onFailureArn = stack.resolve(stack.onFailureQueue!.queueArn);

  /** statements → {resource (JSON) → sorted actions}, every statement an Allow. */
  function byResource(statements: Json[]): Map<string, string[]> {
    const m = new Map<string, string[]>();
    for (const st of statements) {
      assert.equal(st.Effect, 'Allow');
      const resources = Array.isArray(st.Resource) ? st.Resource : [st.Resource];
      for (const r of resources) {
        const key = JSON.stringify(r);
        m.set(key, [...(m.get(key) ?? []), ...actionsOf(st)].sort());
      }
    }
    return m;
  }

  function check(fn: string, expected: Array<[unknown, string[]]>) {
    const got = byResource(roleStatements(template, functionId(template, fn)));
    // Logs: only the function's own log group.
    const logs = [...got.entries()].filter(([, a]) => a.some((x) => x.startsWith('logs:')));
    assert.equal(logs.length, 1, `${fn}: one log group`);
    assert.deepEqual(logs[0][1], ['logs:CreateLogStream', 'logs:PutLogEvents']);
    got.delete(logs[0][0]);
    const want = new Map(expected.map(([r, a]) => [JSON.stringify(r), [...a].sort()]));
    assert.deepEqual(Object.fromEntries(got), Object.fromEntries(want), fn);
    for (const actions of got.values()) {
      for (const a of actions) assert.ok(!a.includes('*'), `${fn}: wildcard action ${a}`);
    }
  }

  // Written out, not taken from TABLE_ACTIONS: widening a grant must change this test too.
  // DescribeTable: every function detects the table format at start.
  const ITEM_RW = ['dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem', 'dynamodb:DescribeTable', 'dynamodb:GetItem',
    'dynamodb:PartiQLUpdate', 'dynamodb:Query', 'dynamodb:UpdateItem'];

  it('materializer: its table actions, the one stream (as read at deploy time), send to its two queues', () => {
    check('materializer', [
      [tableArn, ITEM_RW],
      [gsi2Arn, ['dynamodb:Query']],
      [resolvedStreamArn(synthed),
        ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator', 'dynamodb:ListStreams']],
      [dlqArn, ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage']],
      [onFailureArn, ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage']],
    ]);
  });

  it('ttl-sweeper and indexer: table actions only, no stream, no queue', () => {
    check('ttl-sweeper', [[tableArn, [...ITEM_RW, 'dynamodb:Scan']], [gsi2Arn, ['dynamodb:Query']]]);
    check('indexer', [[tableArn, [...ITEM_RW, 'dynamodb:Scan']], [gsi2Arn, ['dynamodb:Query']]]);
  });

  it('materializer with a pinned ARN: the stream grant is on that ARN', () => {
    const pinned = synth(pinnedContext()).template;
    const stream = roleStatements(pinned, functionId(pinned, 'materializer')).filter((st) =>
      actionsOf(st).includes('dynamodb:GetRecords'));
    assert.deepEqual(stream.map((st) => st.Resource), [STREAM_ARN]);
  });

  it('grants only item actions and DescribeTable on the table ARN, and Query on gsi2 (no other index or table)', () => {
    const allowed = new Set([
      'dynamodb:DescribeTable',
      'dynamodb:GetItem',
      'dynamodb:BatchGetItem',
      'dynamodb:Query',
      'dynamodb:Scan',
      'dynamodb:UpdateItem',
      'dynamodb:BatchWriteItem',
      'dynamodb:PartiQLUpdate',
    ]);
    for (const [fn, actions] of Object.entries(TABLE_ACTIONS)) {
      for (const a of actions) assert.ok(allowed.has(a), `${fn}: ${a}`);
      assert.ok(actions.includes('dynamodb:DescribeTable'), `${fn} detects the table format`);
    }
    assert.ok(!TABLE_ACTIONS.materializer.includes('dynamodb:Scan'), 'the materializer never scans');
    const text = JSON.stringify(template.findResources('AWS::IAM::Policy'));
    const indexes = text.match(/table\/mlflow\/index\/[^"]*/g) ?? [];
    assert.ok(indexes.length > 0 && indexes.every((i) => i === 'table/mlflow/index/gsi2'), `index access: ${indexes}`);
  });
});

describe('alarms', () => {
  function alarms(ctx: Record<string, string>) {
    const { template } = synth(ctx);
    return Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties as Json);
  }

  it('cover materializer errors, iterator age, both queue depths, sweeper errors and breaker aborts', () => {
    const all = alarms(fullContext({ 'iterator-age-alarm-seconds': '120' }));
    const summary = all.map((a) => `${a.Namespace}/${a.MetricName}`).sort();
    assert.deepEqual(summary, [
      'AWS/Lambda/Errors',
      'AWS/Lambda/Errors',
      'AWS/Lambda/IteratorAge',
      'AWS/SQS/ApproximateNumberOfMessagesVisible',
      'AWS/SQS/ApproximateNumberOfMessagesVisible',
      'AWS/States/ExecutionsFailed',
      'mlflow-dynamodbstore/Aborted',
    ]);
    for (const a of all) {
      assert.equal(a.ComparisonOperator, 'GreaterThanOrEqualToThreshold');
      assert.equal(a.TreatMissingData, 'notBreaching');
    }
    const age = all.find((a) => a.MetricName === 'IteratorAge')!;
    assert.equal(age.Threshold, 120000);
    assert.equal(age.Statistic, 'Maximum');
    for (const q of all.filter((a) => a.Namespace === 'AWS/SQS')) {
      assert.equal(q.Threshold, 1, 'depth > 0');
    }
    // Aligned with crates/mlflow-ddb-core/src/emf.rs: namespace, metric, dimensions `Function`, `Table`.
    const aborted = all.find((a) => a.MetricName === 'Aborted')!;
    assert.deepEqual(aborted.Dimensions, [
      { Name: 'Function', Value: 'ttl-sweeper' },
      { Name: 'Table', Value: 'mlflow' },
    ]);
    assert.equal(aborted.Statistic, 'Sum');
  });

  it('notify the SNS topic given by alarm-topic-arn', () => {
    const topic = 'arn:aws:sns:us-east-1:123456789012:ops';
    for (const a of alarms(fullContext({ 'alarm-topic-arn': topic }))) {
      assert.deepEqual(a.AlarmActions, [topic]);
    }
    for (const a of alarms(fullContext())) assert.equal(a.AlarmActions, undefined);
  });
});

describe('schedule', () => {
  function rules(ctx: Record<string, string>) {
    const { template } = synth(ctx);
    return Object.values(template.findResources('AWS::Events::Rule')).map((r) => r.Properties as Json);
  }

  it('runs the ttl-sweeper daily at 03:00 UTC by default', () => {
    const [rule, ...rest] = rules(fullContext());
    assert.equal(rest.length, 0);
    assert.equal(rule.ScheduleExpression, 'cron(0 3 * * ? *)');
    assert.equal(rule.State, 'ENABLED');
    const [target] = rule.Targets as Json[];
    assert.equal(target.Input, '{}');
    assert.deepEqual(target.RetryPolicy, { MaximumEventAgeInSeconds: 7200, MaximumRetryAttempts: 2 });
  });

  it('takes cleanup-schedule and the sweep options from context', () => {
    const [rule] = rules(
      fullContext({
        'cleanup-schedule': 'rate(1 day)',
        'cleanup-dry-run': 'true',
        'cleanup-segments': '8',
        'cleanup-breaker-fraction': '0.25',
      }),
    );
    assert.equal(rule.ScheduleExpression, 'rate(1 day)');
    const [target] = rule.Targets as Json[];
    assert.deepEqual(JSON.parse(target.Input as string), { dry_run: true, segments: 8, breaker_fraction: 0.25 });
  });

  it('is absent, with the sweeper, without scheduled-cleanup=true', () => {
    const ctx = fullContext();
    delete ctx['scheduled-cleanup'];
    assert.equal(rules(ctx).length, 0);
    assert.throws(() => functionId(synth(ctx).template, 'ttl-sweeper'), /none/);
  });
});

describe('indexer state machine', () => {
  it('maps over segments and feeds each response back until it is done', () => {
    const { template, stack } = synth(fullContext({ 'indexer-concurrency': '6' }));
    const [sm] = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
    const def = JSON.parse(stack.resolve((sm.Properties as Json).DefinitionString)['Fn::Join'][1]
      .map((p: unknown) => (typeof p === 'string' ? p : 'ARN')).join(''));
    const map = def.States.EachSegment;
    assert.equal(map.Type, 'Map');
    assert.equal(map.MaxConcurrency, 6);
    assert.equal(map.ItemsPath, '$.segments');
    assert.deepEqual(map.ItemSelector, {
      'mode.$': '$.args.mode',
      'segment.$': '$$.Map.Item.Value',
      'total_segments.$': '$.args.total_segments',
      'dry_run.$': '$.args.dry_run',
    });
    assert.equal(def.States.Segments.Parameters['segments.$'],
      'States.ArrayRange(0, States.MathAdd($.args.total_segments, -1), 1)');
    const inner = map.ItemProcessor.States;
    assert.equal(inner.IndexSegment.Next, 'MoreInSegment');
    assert.equal(inner.IndexSegment.OutputPath, undefined);
    assert.ok(inner.IndexSegment.Retry.some((r: Json) => (r.ErrorEquals as string[]).includes('States.TaskFailed')));
    const choice = inner.MoreInSegment;
    // The response is the next request, unchanged, while done is false.
    assert.deepEqual(choice.Choices, [{ Variable: '$.done', BooleanEquals: false, Next: 'IndexSegment' }]);
    assert.equal(choice.Default, 'SegmentDone');
    assert.equal(inner.SegmentDone.End, true);
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: Match.objectLike({ Level: 'ALL' }),
    });
  });
});

describe('cdk-nag AwsSolutions', () => {
  for (const [name, ctx] of [
    ["the guide's flags", fullContext()],
    ['enable-stream', fullContext({ 'enable-stream': 'true' })],
    ['pinned stream ARN', pinnedContext()],
    ['with dlq replay and alarm topic', fullContext({ 'dlq-replay': 'true', 'alarm-topic-arn': 'arn:aws:sns:us-east-1:123456789012:ops' })],
    ['indexer only', { table: 'mlflow', 'lambda-assets': fullContext()['lambda-assets'] }],
  ] as const) {
    it(`has no unacknowledged finding (${name})`, () => {
      const { app, stack } = synth(ctx as Record<string, string>);
      const report = new AwsSolutionsChecks(app).validateScope(stack);
      const findings = report.violations.map((v) => `${v.ruleName} ${JSON.stringify(v.violatingResources)}`);
      assert.deepEqual(findings, []);
    });
  }

  it('would report an unacknowledged finding (the check can fail)', () => {
    const { app, stack } = synth(fullContext());
    new sqs.Queue(stack, 'PlainQueue');
    const report = new AwsSolutionsChecks(app).validateScope(stack);
    assert.ok(report.violations.some((v) => v.ruleName.startsWith('AwsSolutions-SQS')), 'a plain queue is flagged');
  });
});

describe('outputs', () => {
  it('name everything the runbook commands need', () => {
    const { template } = synth(fullContext());
    assert.deepEqual(Object.keys(template.findOutputs('*')).sort(), [
      'IndexerFunctionName',
      'IndexerStateMachineArn',
      'MaterializerDlqUrl',
      'MaterializerFunctionName',
      'StreamMappingUuid',
      'StreamOnFailureQueueUrl',
      'SweeperFunctionName',
      'SweeperScheduleRuleName',
      'TableStreamArn',
    ]);
  });
});
