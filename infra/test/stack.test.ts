// The synthesized stack: mapping settings, IAM, alarms, schedule, state machine, cdk-nag.
import { Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { aws_sqs as sqs } from 'aws-cdk-lib';

import { TABLE_ACTIONS } from '../lib/ops-stack';
import { STREAM_ARN, actionsOf, fullContext, functionId, roleStatements, synth } from './helpers';

type Json = Record<string, unknown>;

describe('event source mapping', () => {
  it('reads the stream from TRIM_HORIZON with bisect, partial batch failures and an on-failure queue', () => {
    const { template, stack } = synth(fullContext());
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
    const onFailure = stack.resolve(stack.onFailureQueue!.queueArn);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: STREAM_ARN,
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

  it('is absent without --context streams=true, and so are the materializer and its queues', () => {
    const ctx = fullContext();
    delete ctx.streams;
    const { template } = synth(ctx);
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 0);
    template.resourceCountIs('AWS::SQS::Queue', 0);
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
          TABLE_FORMAT: 'v0.1',
          DLQ_URL: stack.resolve(stack.dlq!.queueUrl),
        },
      },
    });
  });
});

describe('functions', () => {
  it('run the Rust bootstrap on arm64 provided.al2023 with the table in their environment', () => {
    const { template } = synth(fullContext({ 'table-format': 'main' }));
    template.resourceCountIs('AWS::Lambda::Function', 3);
    template.allResourcesProperties('AWS::Lambda::Function', {
      Runtime: 'provided.al2023',
      Architectures: ['arm64'],
      Handler: 'bootstrap',
      Environment: { Variables: Match.objectLike({ TABLE_NAME: 'mlflow', TABLE_FORMAT: 'main' }) },
    });
  });
});

describe('IAM least privilege', () => {
  const { template, stack } = synth(fullContext());
  const tableArn = stack.resolve(stack.formatArn({ service: 'dynamodb', resource: 'table', resourceName: 'mlflow' }));
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
  const ITEM_RW = ['dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem', 'dynamodb:GetItem', 'dynamodb:PartiQLUpdate',
    'dynamodb:Query', 'dynamodb:UpdateItem'];

  it('materializer: its table actions, the one stream, send to its two queues', () => {
    check('materializer', [
      [tableArn, ITEM_RW],
      [STREAM_ARN, ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator', 'dynamodb:ListStreams']],
      [dlqArn, ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage']],
      [onFailureArn, ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage']],
    ]);
  });

  it('ttl-sweeper and indexer: table actions only, no stream, no queue', () => {
    check('ttl-sweeper', [[tableArn, [...ITEM_RW, 'dynamodb:Scan']]]);
    check('indexer', [[tableArn, [...ITEM_RW, 'dynamodb:Scan']]]);
  });

  it('grants only data-plane item actions, on the table ARN itself (no index, no other table)', () => {
    const dataPlane = new Set([
      'dynamodb:GetItem',
      'dynamodb:BatchGetItem',
      'dynamodb:Query',
      'dynamodb:Scan',
      'dynamodb:UpdateItem',
      'dynamodb:BatchWriteItem',
      'dynamodb:PartiQLUpdate',
    ]);
    for (const [fn, actions] of Object.entries(TABLE_ACTIONS)) {
      for (const a of actions) assert.ok(dataPlane.has(a), `${fn}: ${a}`);
    }
    assert.ok(!TABLE_ACTIONS.materializer.includes('dynamodb:Scan'), 'the materializer never scans');
    const text = JSON.stringify(template.findResources('AWS::IAM::Policy'));
    assert.ok(!text.includes('table/mlflow/index'), 'no index access');
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
    ['full', fullContext()],
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
    ]);
  });
});
