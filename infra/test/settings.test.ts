// Context flags → settings, and the messages for what is refused.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';

import { DEFAULT_CLEANUP_SCHEDULE, assetPath, readSettings, stackNameFor } from '../lib/settings';
import { INFRA_DIR, STREAM_ARN, STUB_ASSETS, fullContext } from './helpers';

const read = (ctx: Record<string, unknown>) => readSettings((k) => ctx[k], INFRA_DIR);

/** `ctx` must be refused with a message matching `message`. */
function refused(ctx: Record<string, unknown>, message: RegExp) {
  assert.throws(() => read(ctx), message, JSON.stringify(ctx));
}

describe('readSettings', () => {
  it('defaults: v0.1, no stream consumer, no schedule, daily 03:00 UTC when scheduled', () => {
    const s = read({ table: 'mlflow' });
    assert.equal(s.tableFormat, 'v0.1');
    assert.equal(s.streams, undefined);
    assert.equal(s.cleanup, undefined);
    assert.equal(s.stackName, 'mlflow-ops-mlflow');
    assert.equal(s.lambdaAssets, path.resolve(INFRA_DIR, '..', 'target', 'lambda'));
    assert.equal(read({ table: 'mlflow', 'scheduled-cleanup': 'true' }).cleanup?.schedule, DEFAULT_CLEANUP_SCHEDULE);
    assert.equal(DEFAULT_CLEANUP_SCHEDULE, 'cron(0 3 * * ? *)');
  });

  it('stream settings and their defaults', () => {
    const s = read(fullContext());
    assert.deepEqual(s.streams, {
      streamArn: STREAM_ARN,
      batchSize: 100,
      batchingWindowSeconds: 1,
      parallelizationFactor: 1,
      maxRetryAttempts: 10,
      maxRecordAgeSeconds: 21600,
      iteratorAgeAlarmSeconds: 300,
      dlqReplay: false,
    });
  });

  it('booleans accept true/false in the usual spellings, JSON booleans from cdk.json too', () => {
    for (const v of ['true', 'TRUE', '1', 'yes', true]) {
      assert.ok(read({ table: 'mlflow', 'scheduled-cleanup': v }).cleanup, String(v));
    }
    for (const v of ['false', '0', 'no', false]) {
      assert.equal(read({ table: 'mlflow', 'scheduled-cleanup': v }).cleanup, undefined, String(v));
    }
    refused({ table: 'mlflow', 'scheduled-cleanup': 'maybe' }, /scheduled-cleanup=maybe: expected true or false/);
  });

  it('refuses what would deploy something wrong, naming the flag', () => {
    refused({}, /--context table=<name> is required/);
    refused({ table: 'a b' }, /not a DynamoDB table name/);
    refused({ table: 'mlflow', opensearch: 'true' }, /opensearch=true: OpenSearch indexing is not supported yet/);
    refused({ table: 'mlflow', streams: 'true' }, /needs --context table-stream-arn=<arn>.*make enable-stream TABLE=mlflow/);
    refused(
      { table: 'other', streams: 'true', 'table-stream-arn': STREAM_ARN },
      /not a stream ARN of table other/,
    );
    refused({ table: 'mlflow', 'table-format': 'v0.2' }, /expected v0.1 or main/);
    refused(fullContext({ 'batch-size': '0' }), /batch-size=0: expected an integer in \[1, 10000\]/);
    refused(fullContext({ 'parallelization-factor': '11' }), /parallelization-factor=11/);
    refused(fullContext({ 'max-record-age-seconds': '30' }), /max-record-age-seconds=30/);
    refused(fullContext({ 'cleanup-schedule': 'every day' }), /expected an EventBridge expression/);
    refused(fullContext({ 'cleanup-breaker-fraction': '1.5' }), /cleanup-breaker-fraction=1.5/);
    refused(fullContext({ 'log-retention-days': '31' }), /log-retention-days=31: CloudWatch Logs accepts/);
    refused(fullContext({ 'alarm-topic-arn': 'ops' }), /not an SNS topic ARN/);
  });

  it('opensearch=false is accepted (the flag exists, only true is refused)', () => {
    assert.equal(read({ table: 'mlflow', opensearch: 'false' }).table, 'mlflow');
  });

  it('stack names are valid CloudFormation names for any table name', () => {
    const check = (table: string, expected: string) => assert.equal(stackNameFor(table), expected, table);
    check('mlflow', 'mlflow-ops-mlflow');
    check('my_table.v2', 'mlflow-ops-my-table-v2');
    check('_x_', 'mlflow-ops-x');
    assert.equal(stackNameFor('t'.repeat(255)).length, 128);
  });
});

describe('assetPath', () => {
  it('prefers the zip from make build, takes a stub directory, and says how to get code otherwise', () => {
    assert.equal(assetPath(STUB_ASSETS, 'indexer'), path.join(STUB_ASSETS, 'indexer'));
    assert.throws(() => assetPath(path.join(STUB_ASSETS, 'nowhere'), 'materializer'), /run `make build`/);
  });
});
