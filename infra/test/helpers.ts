// Synthesize the stack in-process for the tests, on the stub code assets (no Rust build).
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as path from 'node:path';

import { OpsStack } from '../lib/ops-stack';
import { readSettings } from '../lib/settings';

export const INFRA_DIR = path.resolve(__dirname, '..');
/** Stub `bootstrap` files: synth never builds Rust in the tests. */
export const STUB_ASSETS = path.join(INFRA_DIR, 'test', 'fixtures', 'lambda');
export const STREAM_ARN =
  'arn:aws:dynamodb:us-east-1:123456789012:table/mlflow/stream/2026-11-21T00:00:00.000';

/**
 * The context of a full deployment with the upgrade guide's flags only (stream consumer, schedule;
 * the stream ARN read at deploy time), on the stub code.
 */
export function fullContext(extra: Record<string, string> = {}): Record<string, string> {
  return {
    table: 'mlflow',
    streams: 'true',
    'scheduled-cleanup': 'true',
    'lambda-assets': STUB_ASSETS,
    ...extra,
  };
}

/** fullContext with the stream ARN pinned by `--context table-stream-arn`. */
export function pinnedContext(extra: Record<string, string> = {}): Record<string, string> {
  return fullContext({ 'table-stream-arn': STREAM_ARN, ...extra });
}

export interface Synth {
  app: App;
  stack: OpsStack;
  template: Template;
}

export function synth(ctx: Record<string, string>, deployId?: string): Synth {
  const app = new App();
  const settings = readSettings((k) => ctx[k], INFRA_DIR);
  const stack = new OpsStack(app, settings.stackName, { settings, deployId });
  return { app, stack, template: Template.fromStack(stack) };
}

type Json = Record<string, unknown>;

/** Every IAM policy statement attached to the role of function `fnLogicalId` (and no managed policy). */
export function roleStatements(template: Template, fnLogicalId: string): Json[] {
  const fns = template.findResources('AWS::Lambda::Function');
  const role = (fns[fnLogicalId].Properties as Json).Role as Json;
  const roleId = (role['Fn::GetAtt'] as string[])[0];
  const policies = template.findResources('AWS::IAM::Policy');
  const out: Json[] = [];
  for (const p of Object.values(policies)) {
    const props = p.Properties as Json;
    const roles = (props.Roles as Json[]).map((r) => r.Ref);
    if (!roles.includes(roleId)) continue;
    out.push(...((props.PolicyDocument as Json).Statement as Json[]));
  }
  const roles = template.findResources('AWS::IAM::Role');
  if ((roles[roleId].Properties as Json).ManagedPolicyArns !== undefined) {
    throw new Error(`${roleId} has managed policies`);
  }
  return out;
}

/** Actions of a statement as a sorted array. */
export function actionsOf(statement: Json): string[] {
  const a = statement.Action;
  return (Array.isArray(a) ? a : [a]).map(String).sort();
}

/** The logical id of the one function whose description names `name` (see rustFunction). */
export function functionId(template: Template, name: string): string {
  const fns = template.findResources('AWS::Lambda::Function');
  const ids = Object.entries(fns)
    .filter(([, f]) => String((f.Properties as Json).Description ?? '').includes(` ${name} (`))
    .map(([id]) => id);
  if (ids.length !== 1) throw new Error(`expected one ${name} function, found ${ids.join(', ') || 'none'}`);
  return ids[0];
}
