// The CDK app: `npx cdk synth|deploy --context table=<name> [...]` from infra/ (see the README).
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import * as path from 'node:path';

import { OpsStack } from '../lib/ops-stack';
import { readSettings } from '../lib/settings';

const app = new App();
const settings = readSettings((k) => app.node.tryGetContext(k), path.resolve(__dirname, '..'));
new OpsStack(app, settings.stackName, {
  settings,
  // A new value per synth: each deploy re-reads the table's current stream ARN (lib/table-stream.ts).
  deployId: new Date().toISOString(),
  description: `mlflow-dynamodbstore v2 operations for table ${settings.table} (additive: the table is imported)`,
  // Environment-agnostic unless the CLI's account/region are known: synth needs no credentials.
  env:
    process.env.CDK_DEFAULT_ACCOUNT && process.env.CDK_DEFAULT_REGION
      ? { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION }
      : undefined,
});
// cdk-nag (v3, a CDK policy-validation plugin): an AwsSolutions finding fails the synth unless it is
// acknowledged in code with a reason (Validations.of(construct).acknowledge).
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
