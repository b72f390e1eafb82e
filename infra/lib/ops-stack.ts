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

import {
  METRIC_NAMESPACE,
  type FunctionName,
  type MigrateSettings,
  type Settings,
  type StreamSettings,
  assetPath,
} from './settings';
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

/**
 * A migration (`--context migrate-target`): the table actions on the source S, which is only read,
 * and on the target T, from the functions' calls in that mode (issue #11).
 */
export const MIGRATE_ACTIONS = {
  source: {
    // Copy segments: S's format (DescribeTable), its CONFIG (Query), whole items (Scan); a verify of
    // S reads its targets (GetItem, BatchGetItem). Nothing that writes.
    indexer: ['dynamodb:DescribeTable', 'dynamodb:Scan', 'dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:BatchGetItem'],
    // The sync: S's format (DescribeTable), and a replay's strongly consistent re-read of the item.
    materializer: ['dynamodb:DescribeTable', 'dynamodb:GetItem'],
  },
  target: {
    // migrate::apply: transformed items (BatchWriteItem), derived tag items put if absent (PutItem),
    // next_version raised (UpdateItem); reads for checkpoints and version counters.
    indexer: [
      'dynamodb:BatchWriteItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:GetItem',
      'dynamodb:BatchGetItem',
      'dynamodb:Query',
    ],
    // The same writes, then the touched targets reconciled in T as the materializer does on its table
    // (T's format and CONFIG, BatchGetItem of targets, Query of sources, UpdateItem of maps, FTS items).
    materializer: [
      'dynamodb:DescribeTable',
      'dynamodb:GetItem',
      'dynamodb:BatchGetItem',
      'dynamodb:Query',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:BatchWriteItem',
    ],
  },
} as const;

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

/**
 * The construct ids and texts of a stream consumer's resources (see `streamConsumer`); the
 * materializer's ids predate the migration's sync and are kept, so its resources keep their names.
 */
interface ConsumerNames {
  dlq: string;
  onFailureQueue: string;
  mapping: string;
  errorsAlarm: string;
  iteratorAgeAlarm: string;
  dlqDepthAlarm: string;
  onFailureDepthAlarm: string;
  /** Output names: function, mapping, DLQ URL, on-failure queue URL. */
  outputs: [string, string, string, string];
  /** Who fails, in the alarm texts ("the materializer"). */
  who: string;
  /** Whose DLQ, in the alarm texts ("materializer"). */
  queueOwner: string;
  /** The replay command, in the alarm texts. */
  replay: string;
}

/** A function of the stack: construct ids, texts, and what its role may do besides its logs. */
interface FunctionSpec {
  /** Prefix of the construct ids: `<id>`, `<id>Role`, `<id>Logs`. */
  id: string;
  /** The function's description: `mlflow-dynamodbstore <label>`. */
  label: string;
  roleDescription: string;
  statements: iam.PolicyStatement[];
  env: Record<string, string>;
}

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
  /** A migration's sync: the materializer's code carrying S's stream into T (settings.migrate). */
  readonly migrateSync?: lambda.Function;
  readonly migrateSyncDlq?: sqs.Queue;
  readonly migrateSyncOnFailureQueue?: sqs.Queue;
  /** The custom resource reading the stream ARN; absent with table-stream-arn or without a stream consumer. */
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

    // The stream of the one stream consumer (the materializer, or a migration's sync; never both):
    // pinned by table-stream-arn, else the table's current one, read at deploy.
    const consumerStream = s.streams ?? s.migrate?.stream;
    let streamArn = consumerStream?.streamArn;
    if (consumerStream && streamArn === undefined) {
      this.tableStream = new TableStream(this, 'TableStream', {
        table: s.table,
        tableArn,
        enableStream: consumerStream.enableStream,
        logRetentionDays: s.logRetentionDays,
        deployId: props.deployId,
      });
      streamArn = this.tableStream.streamArn;
    }

    // ---- materializer: the stream consumer ------------------------------------------------
    if (s.streams && streamArn) {
      const consumer = this.streamConsumer(
        {
          dlq: 'MaterializerDlq',
          onFailureQueue: 'StreamOnFailureQueue',
          mapping: 'TableStream',
          errorsAlarm: 'MaterializerErrors',
          iteratorAgeAlarm: 'StreamIteratorAge',
          dlqDepthAlarm: 'MaterializerDlqDepth',
          onFailureDepthAlarm: 'StreamOnFailureDepth',
          outputs: ['MaterializerFunctionName', 'StreamMappingUuid', 'MaterializerDlqUrl', 'StreamOnFailureQueueUrl'],
          who: 'the materializer',
          queueOwner: 'materializer',
          replay: 'materializer replay --dlq-url ... --table ...',
        },
        s.streams,
        streamArn,
        (dlq) => this.rustFunction('materializer', tableArn, { DLQ_URL: dlq.queueUrl }),
      );
      this.materializer = consumer.fn;
      this.dlq = consumer.dlq;
      this.onFailureQueue = consumer.onFailureQueue;
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

    // ---- migration: S (the table) read only, T written --------------------------------------
    const m = s.migrate;
    const targetArn = m && dynamodb.Table.fromTableName(this, 'MigrateTarget', m.target).tableArn;
    if (m?.stream && targetArn && streamArn) {
      const fmt = s.tableFormat;
      const consumer = this.streamConsumer(
        {
          dlq: 'MigrateSyncDlq',
          onFailureQueue: 'MigrateSyncOnFailureQueue',
          mapping: 'SourceStream',
          errorsAlarm: 'MigrateSyncErrors',
          iteratorAgeAlarm: 'MigrateSyncIteratorAge',
          dlqDepthAlarm: 'MigrateSyncDlqDepth',
          onFailureDepthAlarm: 'MigrateSyncOnFailureDepth',
          outputs: ['MigrateSyncFunctionName', 'MigrateSyncMappingUuid', 'MigrateSyncDlqUrl',
            'MigrateSyncOnFailureQueueUrl'],
          who: `the migration's sync into ${m.target}`,
          queueOwner: 'migration sync',
          replay: `MIGRATE_TARGET_TABLE=${m.target} materializer replay --dlq-url ... --table ${s.table}`,
        },
        m.stream,
        streamArn,
        (dlq) =>
          this.lambdaFunction('materializer', {
            id: 'MigrateSync',
            label: `migrate-sync (materializer: ${s.table}'s stream into ${m.target}, format ${fmt})`,
            roleDescription: `migrate-sync: reads ${s.table} and its stream, writes ${m.target}`,
            statements: [
              ...this.tableStatements('Source', tableArn, MIGRATE_ACTIONS.source.materializer),
              ...this.tableStatements('Target', targetArn, MIGRATE_ACTIONS.target.materializer),
            ],
            env: {
              DLQ_URL: dlq.queueUrl,
              MIGRATE_TARGET_TABLE: m.target,
              MIGRATE_DIRECTION: 'to-main',
              ...(m.sinceMs === undefined ? {} : { MIGRATE_SINCE_MS: String(m.sinceMs) }),
            },
          }),
      );
      this.migrateSync = consumer.fn;
      this.migrateSyncDlq = consumer.dlq;
      this.migrateSyncOnFailureQueue = consumer.onFailureQueue;
    }

    // ---- indexer: backfill / verify (a migration: copy / verify), one Map branch per segment -
    this.indexer = m && targetArn
      ? this.lambdaFunction('indexer', {
        id: 'Indexer',
        label: `indexer (${s.table}, format ${s.tableFormat}; copies into ${m.target})`,
        roleDescription: `indexer: reads ${s.table}, copies it into ${m.target}`,
        statements: [
          ...this.tableStatements('Source', tableArn, MIGRATE_ACTIONS.source.indexer),
          // The copy writes T without reading its format: no DescribeTable, no index.
          new iam.PolicyStatement({ sid: 'TargetActions', actions: [...MIGRATE_ACTIONS.target.indexer],
            resources: [targetArn] }),
        ],
        env: { TARGET_TABLE: m.target },
      })
      : this.rustFunction('indexer', tableArn, {});
    this.indexerStateMachine = this.indexerMachine(this.indexer, s.indexerConcurrency, m);
    this.alarm('IndexerFailedExecutions', this.indexerStateMachine.metricFailed({ period: Duration.minutes(5),
      statistic: 'Sum' }), 1, `an indexer ${m ? 'copy' : 'backfill'}/verify execution failed`);
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

  /**
   * A consumer of the table's stream running the materializer's code: its DLQ and on-failure queue,
   * the function (`makeFn`, given the DLQ), its mapping, the queues as replay sources with
   * dlq-replay, its four alarms and its outputs.
   */
  private streamConsumer(
    n: ConsumerNames,
    st: StreamSettings,
    streamArn: string,
    makeFn: (dlq: sqs.Queue) => lambda.Function,
  ): { fn: lambda.Function; dlq: sqs.Queue; onFailureQueue: sqs.Queue } {
    const fnTimeout = FUNCTION_SIZING.materializer.timeout;
    const dlq = this.queue(n.dlq, fnTimeout);
    const onFailureQueue = this.queue(n.onFailureQueue, fnTimeout);
    const fn = makeFn(dlq);
    fn.addToRolePolicy(
      new iam.PolicyStatement({ sid: 'ReadTheTableStream', actions: STREAM_ACTIONS, resources: [streamArn] }),
    );
    // Records the function gives up on (poison) go to its DLQ itself, as envelopes.
    dlq.grantSendMessages(fn);
    const mapping = fn.addEventSourceMapping(n.mapping, {
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
      onFailure: new sources.SqsDlq(onFailureQueue),
    });
    if (st.dlqReplay) {
      // Replay inside Lambda: both queues as event sources. Off by default; turn it on to drain
      // the queues after a fix, then off again (see the README's runbook).
      for (const q of [dlq, onFailureQueue]) {
        fn.addEventSource(new sources.SqsEventSource(q, { batchSize: 10, reportBatchItemFailures: true }));
      }
    }
    this.alarm(n.errorsAlarm, fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }), 1,
      `${n.who} failed invocations (batches are retried, then bisected, then sent to the on-failure queue)`);
    this.alarm(
      n.iteratorAgeAlarm,
      fn.metric('IteratorAge', { period: Duration.minutes(5), statistic: 'Maximum' }),
      st.iteratorAgeAlarmSeconds * 1000,
      `the oldest stream record waited more than ${st.iteratorAgeAlarmSeconds} s (records older than 24 h are lost)`,
    );
    this.alarm(n.dlqDepthAlarm, dlq.metricApproximateNumberOfMessagesVisible({
      period: Duration.minutes(5), statistic: 'Maximum' }), 1,
      `records in the ${n.queueOwner} DLQ: replay them (${n.replay})`);
    this.alarm(n.onFailureDepthAlarm, onFailureQueue.metricApproximateNumberOfMessagesVisible({
      period: Duration.minutes(5), statistic: 'Maximum' }), 1,
      `batches the stream mapping gave up on: replay within 24 h (${n.replay})`);
    const [fnOut, mappingOut, dlqOut, onFailureOut] = n.outputs;
    new CfnOutput(this, fnOut, { value: fn.functionName });
    new CfnOutput(this, mappingOut, { value: mapping.eventSourceMappingId });
    new CfnOutput(this, 'TableStreamArn', { value: streamArn });
    new CfnOutput(this, dlqOut, { value: dlq.queueUrl });
    new CfnOutput(this, onFailureOut, { value: onFailureQueue.queueUrl });
    return { fn, dlq, onFailureQueue };
  }

  /**
   * `actions` on a table (sid `<prefix>Actions`, or `TableActions`), and the Query of its gsi2 that
   * format detection makes (sid `<prefix>FormatSample`, or `FormatSample`): a few forward FTS keys
   * of names, keys only, the one index whose keys tell the formats apart. Nothing of other indexes.
   */
  private tableStatements(prefix: string, tableArn: string, actions: readonly string[]): iam.PolicyStatement[] {
    return [
      new iam.PolicyStatement({ sid: `${prefix || 'Table'}Actions`, actions: [...actions], resources: [tableArn] }),
      new iam.PolicyStatement({
        sid: `${prefix}FormatSample`,
        actions: ['dynamodb:Query'],
        resources: [`${tableArn}/index/gsi2`],
      }),
    ];
  }

  /** One of the Rust functions on its own table: the table actions it performs (TABLE_ACTIONS). */
  private rustFunction(name: FunctionName, tableArn: string, env: Record<string, string>): lambda.Function {
    const s = this.settings;
    return this.lambdaFunction(name, {
      id: name === 'ttl-sweeper' ? 'TtlSweeper' : name.charAt(0).toUpperCase() + name.slice(1),
      label: `${name} (${s.table}, format ${s.tableFormat})`,
      roleDescription: `${name} on ${s.table}: its log group, and the table actions it uses`,
      statements: this.tableStatements('', tableArn, TABLE_ACTIONS[name]),
      env,
    });
  }

  /** A function from the code of `asset`: arm64, provided.al2023, its own role and log group. */
  private lambdaFunction(asset: FunctionName, spec: FunctionSpec): lambda.Function {
    const s = this.settings;
    const logGroup = new logs.LogGroup(this, `${spec.id}Logs`, {
      retention: s.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // No managed policy: logs, then only the table actions this function performs.
    const role = new iam.Role(this, `${spec.id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: spec.roleDescription,
    });
    logGroup.grantWrite(role);
    for (const st of spec.statements) role.addToPolicy(st);
    const sizing = FUNCTION_SIZING[asset];
    return new lambda.Function(this, spec.id, {
      description: `mlflow-dynamodbstore ${spec.label}`,
      runtime: lambda.Runtime.PROVIDED_AL2023,
      architecture: lambda.Architecture.ARM_64,
      handler: 'bootstrap',
      code: lambda.Code.fromAsset(assetPath(s.lambdaAssets, asset)),
      role,
      logGroup,
      memorySize: sizing.memoryMiB,
      timeout: sizing.timeout,
      environment: {
        TABLE_NAME: s.table,
        TABLE_FORMAT: s.tableFormat,
        RUST_LOG: 'info',
        ...spec.env,
      },
    });
  }

  private indexerMachine(indexer: lambda.Function, maxConcurrency: number, migrate?: MigrateSettings): sfn.StateMachine {
    // Input: {"mode": "backfill"|"verify", "total_segments": N, "dry_run": bool}; missing
    // fields take these defaults. A migration's: {"mode": "copy"|"verify", ...}, copy by default.
    const defaultMode = migrate ? 'copy' : 'backfill';
    const defaults = new sfn.Pass(this, 'Defaults', {
      parameters: {
        'args.$':
          `States.JsonMerge(States.StringToJson('{\"mode\":\"${defaultMode}\",\"total_segments\":8,\"dry_run\":false}'), $$.Execution.Input, false)`,
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

    // A migration's indexer may not write S: any mode but copy (into T) and verify (read-only) fails
    // here, before an invocation, with the reason.
    let start: sfn.IChainable = segments.next(map);
    if (migrate) {
      const refused = new sfn.Fail(this, 'ModeRefused', {
        error: 'ModeRefused',
        cause:
          `this stack only reads ${this.settings.table} and copies it into ${migrate.target}: mode copy or ` +
          `verify; backfill ${migrate.target} once the copy is done (indexer backfill --table ${migrate.target})`,
      });
      start = new sfn.Choice(this, 'CheckMode')
        .when(sfn.Condition.or(sfn.Condition.stringEquals('$.args.mode', 'copy'),
          sfn.Condition.stringEquals('$.args.mode', 'verify')), start)
        .otherwise(refused);
    }

    const logGroup = new logs.LogGroup(this, 'IndexerStateMachineLogs', {
      retention: this.settings.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const machine = new sfn.StateMachine(this, 'IndexerStateMachine', {
      comment: `indexer over ${this.settings.table}${migrate ? ` (copy into ${migrate.target})` : ''}: one branch ` +
        'per scan segment, resuming continuations',
      definitionBody: sfn.DefinitionBody.fromChainable(defaults.next(start)),
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
