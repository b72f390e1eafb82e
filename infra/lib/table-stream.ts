// The table's current stream ARN, read at deploy time (and the stream turned on when asked), so an
// operator never pastes an ARN that changes whenever the stream is re-enabled.
import * as fs from 'node:fs';
import * as path from 'node:path';

import {
  CustomResource,
  Duration,
  RemovalPolicy,
  Stack,
  Validations,
  aws_iam as iam,
  aws_lambda as lambda,
  aws_logs as logs,
  custom_resources as cr,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';

export interface TableStreamProps {
  table: string;
  tableArn: string;
  /** Turn on a NEW_AND_OLD_IMAGES stream when the table has none (UpdateTable). */
  enableStream: boolean;
  logRetentionDays: number;
  /**
   * A value that differs on every deploy (bin/app.ts passes the synth time): a custom resource
   * runs only when its properties change, and this one must re-read the stream each time, since
   * the ARN changes whenever the stream is turned off and on. Unset (tests), the template is stable.
   */
  deployId?: string;
}

/**
 * A custom resource (inline Node.js handler behind the custom_resources Provider) that calls
 * DescribeTable on create and on every update, fails the deploy unless the table has a
 * NEW_AND_OLD_IMAGES stream, and gives its ARN as `streamArn`. Its role may DescribeTable the
 * one table, and UpdateTable it only with `enableStream`.
 */
export class TableStream extends Construct {
  /** The table's current stream ARN (Fn::GetAtt of the custom resource). */
  readonly streamArn: string;

  constructor(scope: Construct, id: string, props: TableStreamProps) {
    super(scope, id);
    const retention = props.logRetentionDays as logs.RetentionDays;
    const logGroup = (lid: string) => new logs.LogGroup(this, lid, { retention, removalPolicy: RemovalPolicy.RETAIN });
    const lambdaRole = (rid: string, description: string) =>
      new iam.Role(this, rid, { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'), description });

    const role = lambdaRole('HandlerRole', `reads the stream ARN of ${props.table} at deploy time`);
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'TableStreamSetting',
        actions: props.enableStream ? ['dynamodb:DescribeTable', 'dynamodb:UpdateTable'] : ['dynamodb:DescribeTable'],
        resources: [props.tableArn],
      }),
    );
    const handlerLogs = logGroup('HandlerLogs');
    handlerLogs.grantWrite(role);
    const handler = new lambda.Function(this, 'Handler', {
      description: `table stream of ${props.table}: its current ARN at deploy time`,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      handler: 'index.handler',
      code: lambda.Code.fromInline(fs.readFileSync(path.join(__dirname, 'table-stream.handler.js'), 'utf8')),
      role,
      logGroup: handlerLogs,
      memorySize: 128,
      // resolveStream polls for at most 100 x 5 s while a table becomes ACTIVE.
      timeout: Duration.minutes(10),
    });

    const frameworkRole = lambdaRole('ProviderRole', `invokes the ${props.table} table stream handler`);
    const frameworkLogs = logGroup('ProviderLogs');
    frameworkLogs.grantWrite(frameworkRole);
    const provider = new cr.Provider(this, 'Provider', {
      onEventHandler: handler,
      frameworkOnEventRole: frameworkRole,
      logGroup: frameworkLogs,
    });
    const stack = Stack.of(this);
    const handlerLogicalId = stack.resolve((handler.node.defaultChild as lambda.CfnFunction).logicalId);
    Validations.of(frameworkRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${handlerLogicalId}.Arn>:*]`,
      reason:
        'The custom resource Provider framework may invoke the stream handler and its qualified versions ' +
        '(<arn>:*); nothing else is invocable.',
    });

    const resource = new CustomResource(this, 'Resource', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::TableStream',
      properties: {
        TableName: props.table,
        EnableStream: String(props.enableStream),
        ...(props.deployId === undefined ? {} : { DeployId: props.deployId }),
      },
    });
    this.streamArn = resource.getAttString('StreamArn');
  }
}
