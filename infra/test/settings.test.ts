// Context flags → settings, and the messages for what is refused.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';

import { DEFAULT_CLEANUP_SCHEDULE, assetPath, readSettings, stackNameFor } from '../lib/settings';
import { INFRA_DIR, STREAM_ARN, STUB_ASSETS, fullContext, pinnedContext } from './helpers';

const read = (ctx: Record<string, unknown>) => readSettings((k) => ctx[k], INFRA_DIR);

/** `ctx` must be refused with a message matching `message`. */
function refused(ctx: Record<string, unknown>, message: RegExp) {
  assert.throws(() => read(ctx), message, JSON.stringify(ctx));
}

describe('readSettings', () => {
  it('defaults: format auto, no stream consumer, no schedule, daily 03:00 UTC when scheduled', () => {
    const s = read({ table: 'mlflow' });
    assert.equal(s.tableFormat, 'auto');
    assert.equal(s.streams, undefined);
    assert.equal(s.cleanup, undefined);
    assert.equal(s.stackName, 'mlflow-ops-mlflow');
    assert.equal(s.lambdaAssets, path.resolve(INFRA_DIR, '..', 'target', 'lambda'));
    assert.equal(read({ table: 'mlflow', 'scheduled-cleanup': 'true' }).cleanup?.schedule, DEFAULT_CLEANUP_SCHEDULE);
    assert.equal(DEFAULT_CLEANUP_SCHEDULE, 'cron(0 3 * * ? *)');
  });

  it('table-format takes auto, v0.1 and main', () => {
    for (const f of ['auto', 'v0.1', 'main']) {
      assert.equal(read({ table: 'mlflow', 'table-format': f }).tableFormat, f);
    }
  });

  it("the upgrade guide's flags alone give a stream consumer whose ARN is read at deploy time", () => {
    const s = read({ table: 'mlflow', streams: 'true', 'scheduled-cleanup': 'true' });
    assert.equal(s.streams?.streamArn, undefined);
    assert.equal(s.streams?.enableStream, false);
    assert.ok(s.cleanup);
    assert.equal(read(fullContext({ 'enable-stream': 'true' })).streams?.enableStream, true);
  });

  it('stream settings and their defaults, with a pinned ARN', () => {
    const s = read(pinnedContext());
    assert.deepEqual(s.streams, {
      streamArn: STREAM_ARN,
      enableStream: false,
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
    refused({ table: 'other', streams: 'true', 'table-stream-arn': STREAM_ARN }, /not a stream ARN of table other/);
    refused(fullContext({ 'table-stream-arn': 'arn:aws:sqs:us-east-1:123456789012:q' }), /not a stream ARN of table mlflow/);
    refused(pinnedContext({ 'enable-stream': 'true' }), /enable-stream=true and table-stream-arn=<arn> exclude/);
    refused({ table: 'mlflow', 'enable-stream': 'true' }, /enable-stream=true needs --context streams=true/);
    refused({ table: 'mlflow', 'table-stream-arn': STREAM_ARN }, /table-stream-arn needs --context streams=true/);
    refused(fullContext({ 'enable-stream': 'sometimes' }), /enable-stream=sometimes: expected true or false/);
    refused({ table: 'mlflow', 'table-format': 'v0.2' }, /table-format=v0.2: expected auto, v0.1 or main/);
    refused(fullContext({ 'batch-size': '0' }), /batch-size=0: expected an integer in \[1, 10000\]/);
    refused(fullContext({ 'parallelization-factor': '11' }), /parallelization-factor=11/);
    refused(fullContext({ 'max-record-age-seconds': '30' }), /max-record-age-seconds=30/);
    refused(fullContext({ 'cleanup-schedule': 'every day' }), /expected an EventBridge expression/);
    refused(fullContext({ 'cleanup-breaker-fraction': '1.5' }), /cleanup-breaker-fraction=1.5/);
    refused(fullContext({ 'log-retention-days': '31' }), /log-retention-days=31: CloudWatch Logs accepts/);
    refused(fullContext({ 'alarm-topic-arn': 'ops' }), /not an SNS topic ARN/);
  });

  it('opensearch=true is refused with why (no backend reads an index; ~2 OCU) and what search keeps doing', () => {
    let message = '';
    try {
      read(fullContext({ opensearch: 'true' }));
    } catch (e) {
      message = (e as Error).message;
    }
    assert.match(message, /^--context opensearch=true is refused/);
    assert.match(message, /no version of mlflow-dynamodbstore has a search backend that reads an OpenSearch index/);
    assert.match(message, /~2 OCU minimum and serve no query/);
    assert.match(message, /FTS items \(word and trigram tokens\) in the table itself, which the materializer keeps/);
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
