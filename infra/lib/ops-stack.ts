// The v2 operations stack, deployed next to an existing mlflow-dynamodbstore table. Everything
// here is additive: the table is imported and its items are never touched by the deploy. Its one
// setting the stack may change is the stream, and only with `--context enable-stream=true` (turned
// on when absent, never off); deleting this stack leaves the table, stream included, as it is.
import {
  CfnOutput,
  Duration,
  RemovalPolicy,
  Stack,
  type StackProps,
  Validations,
  aws_cloudwatch as cw,
  aws_cloudwatch_actions as cwActions,
  aws_dynamodb as dynamodb,
  aws_events as events,
  aws_events_targets as eventTargets,
  aws_iam as iam,
  aws_lambda as lambda,
  aws_lambda_event_sources as sources,
  aws_logs as logs,
  aws_sns as sns,
  aws_sqs as sqs,
  aws_stepfunctions as sfn,
  aws_stepfunctions_tasks as tasks,
} from 'aws-cdk-lib';
import type { Construct } from 'constructs';

import { METRIC_NAMESPACE, type FunctionName, type Settings, assetPath } from './settings';
import { TableStream } from './table-stream';

/**
 * Table actions each function performs, from the adapter's Store calls (crates/mlflow-ddb-aws).
 * Every function starts with DescribeTable on the table, to detect its format (TABLE_FORMAT=auto).
 */
export const TABLE_ACTIONS: Record<FunctionName, string[]> = {
  // get / batch_get / query_prefix; update_map (UpdateItem); FTS puts and deletes (BatchWriteItem);
  // expire on orphan cascades (conditional PartiQL UPDATE via BatchExecuteStatement).
  materializer: [
    'dynamodb:DescribeTable',
    'dynamodb:GetItem',
    'dynamodb:BatchGetItem',
    'dynamodb:Query',
    'dynamodb:UpdateItem',
    'dynamodb:BatchWriteItem',
    'dynamodb:PartiQLUpdate',
  ],
  // scan_segment, consistent re-checks (get / batch_get), expire (PartiQL UPDATE, or UpdateItem),
  // and its own checkpoint item (BatchWriteItem put/delete).
  'ttl-sweeper': [
    'dynamodb:DescribeTable',
    'dynamodb:Scan',
    'dynamodb:Query',
    'dynamodb:GetItem',
    'dynamodb:BatchGetItem',
    'dynamodb:UpdateItem',
    'dynamodb:BatchWriteItem',
    'dynamodb:PartiQLUpdate',
  ],
  // scan_segment over the table, then the materializer's reconcile per target.
  indexer: [
    'dynamodb:DescribeTable',
    'dynamodb:Scan',
    'dynamodb:Query',
    'dynamodb:GetItem',
    'dynamodb:BatchGetItem',
    'dynamodb:UpdateItem',
    'dynamodb:BatchWriteItem',
    'dynamodb:PartiQLUpdate',
  ],
};

/** What Lambda's event source mapping needs on the stream (and nothing on other streams). */
export const STREAM_ACTIONS = [
  'dynamodb:DescribeStream',
  'dynamodb:GetRecords',
  'dynamodb:GetShardIterator',
  'dynamodb:ListStreams',
];

const FUNCTION_SIZING: Record<FunctionName, { memoryMiB: number; timeout: Duration }> = {
  materializer: { memoryMiB: 256, timeout: Duration.minutes(2) },
  'ttl-sweeper': { memoryMiB: 512, timeout: Duration.minutes(15) },
  indexer: { memoryMiB: 512, timeout: Duration.minutes(15) },
};

export interface OpsStackProps extends StackProps {
  settings: Settings;
  /** Differs on every deploy so the stream ARN is re-read (see TableStreamProps.deployId). */
  deployId?: string;
}

export class OpsStack extends Stack {
  readonly materializer?: lambda.Function;
  readonly sweeper?: lambda.Function;
  readonly indexer: lambda.Function;
  readonly indexerStateMachine: sfn.StateMachine;
  readonly dlq?: sqs.Queue;
  readonly onFailureQueue?: sqs.Queue;
  /** The custom resource reading the stream ARN; absent with table-stream-arn (or without streams). */
  readonly tableStream?: TableStream;

  private readonly settings: Settings;
  private readonly alarmAction?: cw.IAlarmAction;

  constructor(scope: Construct, id: string, props: OpsStackProps) {
    super(scope, id, props);
    const s = props.settings;
    this.settings = s;
    if (s.alarmTopicArn) {
      this.alarmAction = new cwActions.SnsAction(sns.Topic.fromTopicArn(this, 'AlarmTopic', s.alarmTopicArn));
    }
    // The table the reference store created, imported by name.
    const tableArn = dynamodb.Table.fromTableName(this, 'Table', s.table).tableArn;

    // ---- materializer: the stream consumer ------------------------------------------------
    if (s.streams) {
      const st = s.streams;
      // The stream ARN pinned by table-stream-arn, else the table's current one, read at deploy.
      let streamArn = st.streamArn;
      if (streamArn === undefined) {
        this.tableStream = new TableStream(this, 'TableStream', {
          table: s.table,
          tableArn,
          enableStream: st.enableStream,
          logRetentionDays: s.logRetentionDays,
          deployId: props.deployId,
        });
        streamArn = this.tableStream.streamArn;
      }
      const fnTimeout = FUNCTION_SIZING.materializer.timeout;
      this.dlq = this.queue('MaterializerDlq', fnTimeout);
      this.onFailureQueue = this.queue('StreamOnFailureQueue', fnTimeout);
      const fn = this.rustFunction('materializer', tableArn, {
        DLQ_URL: this.dlq.queueUrl,
      });
      this.materializer = fn;
      fn.addToRolePolicy(
        new iam.PolicyStatement({ sid: 'ReadTheTableStream', actions: STREAM_ACTIONS, resources: [streamArn] }),
      );
      // Records the function gives up on (poison) go to its DLQ itself, as envelopes.
      this.dlq.grantSendMessages(fn);
      const mapping = fn.addEventSourceMapping('TableStream', {
        eventSourceArn: streamArn,
        startingPosition: lambda.StartingPosition.TRIM_HORIZON,
        batchSize: st.batchSize,
        maxBatchingWindow: Duration.seconds(st.batchingWindowSeconds),
        bisectBatchOnError: true,
        reportBatchItemFailures: true,
        retryAttempts: st.maxRetryAttempts,
        maxRecordAge: Duration.seconds(st.maxRecordAgeSeconds),
        parallelizationFactor: st.parallelizationFactor,
        // Batches still failing after the retries: their shard and sequence range (not the
        // records) go here; `materializer replay` re-reads them from the stream (24 h).
        onFailure: new sources.SqsDlq(this.onFailureQueue),
      });
      if (st.dlqReplay) {
        // Replay inside Lambda: both queues as event sources. Off by default; turn it on to drain
        // the queues after a fix, then off again (see the README's runbook).
        for (const q of [this.dlq, this.onFailureQueue]) {
          fn.addEventSource(new sources.SqsEventSource(q, { batchSize: 10, reportBatchItemFailures: true }));
        }
      }
      this.alarm('MaterializerErrors', fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }), 1,
        'the materializer failed invocations (batches are retried, then bisected, then sent to the on-failure queue)');
      this.alarm(
        'StreamIteratorAge',
        fn.metric('IteratorAge', { period: Duration.minutes(5), statistic: 'Maximum' }),
        st.iteratorAgeAlarmSeconds * 1000,
        `the oldest stream record waited more than ${st.iteratorAgeAlarmSeconds} s (records older than 24 h are lost)`,
      );
      this.alarm('MaterializerDlqDepth', this.dlq.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5), statistic: 'Maximum' }), 1,
        'records in the materializer DLQ: replay them (materializer replay --dlq-url ... --table ...)');
      this.alarm('StreamOnFailureDepth', this.onFailureQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5), statistic: 'Maximum' }), 1,
        'batches the stream mapping gave up on: replay within 24 h (materializer replay --dlq-url ... --table ...)');
      new CfnOutput(this, 'MaterializerFunctionName', { value: fn.functionName });
      new CfnOutput(this, 'StreamMappingUuid', { value: mapping.eventSourceMappingId });
      new CfnOutput(this, 'TableStreamArn', { value: streamArn });
      new CfnOutput(this, 'MaterializerDlqUrl', { value: this.dlq.queueUrl });
      new CfnOutput(this, 'StreamOnFailureQueueUrl', { value: this.onFailureQueue.queueUrl });
    }

    // ---- ttl-sweeper: scheduled orphan cleanup ---------------------------------------------
    if (s.cleanup) {
      const fn = this.rustFunction('ttl-sweeper', tableArn, {});
      this.sweeper = fn;
      const rule = new events.Rule(this, 'CleanupSchedule', {
        description: `ttl-sweeper on ${s.table}`,
        schedule: events.Schedule.expression(s.cleanup.schedule),
        targets: [
          new eventTargets.LambdaFunction(fn, {
            event: events.RuleTargetInput.fromObject(s.cleanup.input),
            retryAttempts: 2,
            maxEventAge: Duration.hours(2),
          }),
        ],
      });
      this.alarm('SweeperErrors', fn.metricErrors({ period: Duration.hours(1), statistic: 'Sum' }), 1,
        'the ttl-sweeper failed a run');
      // The sweeper prints an EMF line per run (functions/ttl-sweeper/src/emf.rs, built by
      // crates/mlflow-ddb-core/src/emf.rs): Aborted = 1 when its circuit breaker refused to write
      // (too many partitions looked orphaned). Dimensions Function and Table: two stacks on two
      // tables in one account never share the metric.
      this.alarm(
        'SweeperBreakerAborts',
        new cw.Metric({
          namespace: METRIC_NAMESPACE,
          metricName: 'Aborted',
          dimensionsMap: { Function: 'ttl-sweeper', Table: s.table },
          period: Duration.hours(1),
          statistic: 'Sum',
        }),
        1,
        'the ttl-sweeper circuit breaker aborted a run: nothing was expired; check the table before raising breaker_fraction',
      );
      new CfnOutput(this, 'SweeperFunctionName', { value: fn.functionName });
      new CfnOutput(this, 'SweeperScheduleRuleName', { value: rule.ruleName });
    }

    // ---- indexer: backfill / verify, one Map branch per scan segment ------------------------
    this.indexer = this.rustFunction('indexer', tableArn, {});
    this.indexerStateMachine = this.indexerMachine(this.indexer, s.indexerConcurrency);
    this.alarm('IndexerFailedExecutions', this.indexerStateMachine.metricFailed({ period: Duration.minutes(5),
      statistic: 'Sum' }), 1, 'an indexer backfill/verify execution failed');
    new CfnOutput(this, 'IndexerFunctionName', { value: this.indexer.functionName });
    new CfnOutput(this, 'IndexerStateMachineArn', { value: this.indexerStateMachine.stateMachineArn });
  }

  /** An encrypted queue kept 14 days; visibility fits a replay by the function (6x its timeout). */
  private queue(id: string, fnTimeout: Duration): sqs.Queue {
    const q = new sqs.Queue(this, id, {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      visibilityTimeout: Duration.seconds(fnTimeout.toSeconds() * 6),
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(q).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself a dead-letter queue (the materializer DLQ, or the stream mapping on-failure ' +
        'destination); a DLQ of a DLQ would only hide messages from the replay and the depth alarm.',
    });
    return q;
  }

  /** One of the Rust functions: arm64, provided.al2023, its own role and log group. */
  private rustFunction(name: FunctionName, tableArn: string, env: Record<string, string>): lambda.Function {
    const s = this.settings;
    const id = name === 'ttl-sweeper' ? 'TtlSweeper' : name.charAt(0).toUpperCase() + name.slice(1);
    const logGroup = new logs.LogGroup(this, `${id}Logs`, {
      retention: s.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // No managed policy: logs, then only the table actions this function performs.
    const role = new iam.Role(this, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `${name} on ${s.table}: its log group, and the table actions it uses`,
    });
    logGroup.grantWrite(role);
    role.addToPolicy(
      new iam.PolicyStatement({ sid: 'TableActions', actions: TABLE_ACTIONS[name], resources: [tableArn] }),
    );
    // Format detection also samples a few forward FTS keys of names: one Query of gsi2 (the one
    // index whose keys tell the formats apart), keys only. Nothing else of any index.
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'FormatSample',
        actions: ['dynamodb:Query'],
        resources: [`${tableArn}/index/gsi2`],
      }),
    );
    const sizing = FUNCTION_SIZING[name];
    const fn = new lambda.Function(this, id, {
      description: `mlflow-dynamodbstore ${name} (${s.table}, format ${s.tableFormat})`,
      runtime: lambda.Runtime.PROVIDED_AL2023,
      architecture: lambda.Architecture.ARM_64,
      handler: 'bootstrap',
      code: lambda.Code.fromAsset(assetPath(s.lambdaAssets, name)),
      role,
      logGroup,
      memorySize: sizing.memoryMiB,
      timeout: sizing.timeout,
      environment: {
        TABLE_NAME: s.table,
        TABLE_FORMAT: s.tableFormat,
        RUST_LOG: 'info',
        ...env,
      },
    });
    return fn;
  }

  private indexerMachine(indexer: lambda.Function, maxConcurrency: number): sfn.StateMachine {
    // Input: {"mode": "backfill"|"verify", "total_segments": N, "dry_run": bool}; missing
    // fields take these defaults.
    const defaults = new sfn.Pass(this, 'Defaults', {
      parameters: {
        'args.$':
          "States.JsonMerge(States.StringToJson('{\"mode\":\"backfill\",\"total_segments\":8,\"dry_run\":false}'), $$.Execution.Input, false)",
      },
    });
    const segments = new sfn.Pass(this, 'Segments', {
      parameters: {
        'args.$': '$.args',
        'segments.$': 'States.ArrayRange(0, States.MathAdd($.args.total_segments, -1), 1)',
      },
    });
    const invoke = new tasks.LambdaInvoke(this, 'IndexSegment', {
      lambdaFunction: indexer,
      payloadResponseOnly: true,
      retryOnServiceExceptions: true,
    });
    // Driver contract (functions/indexer/src/lib.rs): the response is the segment's state, and
    // while `done` is false it is also the next request, passed back unchanged. A failed
    // invocation may be retried with the same payload (pages are reconciled level-triggered).
    invoke.addRetry({
      errors: ['States.TaskFailed'],
      interval: Duration.seconds(10),
      maxAttempts: 3,
      backoffRate: 2,
    });
    const segmentDone = new sfn.Pass(this, 'SegmentDone', {
      // Keep the totals only: drift examples of many segments could exceed the 256 KB state limit
      // (the full per-segment report is in the indexer's log and EMF metrics).
      parameters: { 'segment.$': '$.segment', 'counts.$': '$.counts' },
    });
    const more = new sfn.Choice(this, 'MoreInSegment')
      .when(sfn.Condition.booleanEquals('$.done', false), invoke)
      .otherwise(segmentDone);
    const map = new sfn.Map(this, 'EachSegment', {
      itemsPath: '$.segments',
      itemSelector: {
        'mode.$': '$.args.mode',
        'segment.$': '$$.Map.Item.Value',
        'total_segments.$': '$.args.total_segments',
        'dry_run.$': '$.args.dry_run',
      },
      maxConcurrency,
      resultPath: '$.results',
    });
    map.itemProcessor(invoke.next(more));

    const logGroup = new logs.LogGroup(this, 'IndexerStateMachineLogs', {
      retention: this.settings.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const machine = new sfn.StateMachine(this, 'IndexerStateMachine', {
      comment: `indexer over ${this.settings.table}: one branch per scan segment, resuming continuations`,
      definitionBody: sfn.DefinitionBody.fromChainable(defaults.next(segments).next(map)),
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
      tracingEnabled: true,
      timeout: Duration.days(7),
    });
    const indexerLogicalId = this.resolve((indexer.node.defaultChild as lambda.CfnFunction).logicalId);
    Validations.of(machine).acknowledge(
      {
        id: `AwsSolutions-IAM5[Resource::<${indexerLogicalId}.Arn>:*]`,
        reason:
          'CDK grants lambda:InvokeFunction on the indexer and on its qualified versions (<arn>:*) for the ' +
          'LambdaInvoke task; nothing else is invocable.',
      },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'The X-Ray (tracing) and CloudWatch Logs delivery (logging) actions Step Functions needs have no ' +
          'resource-level permissions.',
      },
    );
    return machine;
  }

  private alarm(id: string, metric: cw.IMetric, threshold: number, description: string): cw.Alarm {
    const a = new cw.Alarm(this, id, {
      metric,
      threshold,
      evaluationPeriods: 1,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cw.TreatMissingData.NOT_BREACHING,
      alarmDescription: `${this.settings.table}: ${description}`,
    });
    if (this.alarmAction) a.addAlarmAction(this.alarmAction);
    return a;
  }
}
