// The custom resource's handler against a fake table: what a deploy does with each stream state.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';

import { handler, resolveStream } from '../lib/table-stream.handler.js';
import { fullContext, synth } from './helpers';

interface TableState {
  status: string;
  streamEnabled: boolean;
  viewType?: string;
  streamArn?: string;
}

const OLD_ARN = 'arn:aws:dynamodb:us-east-1:123456789012:table/mlflow/stream/2026-01-01T00:00:00.000';
const NEW_ARN = 'arn:aws:dynamodb:us-east-1:123456789012:table/mlflow/stream/2026-11-21T00:00:00.000';

/**
 * A table whose DescribeTable answers come from `states` in turn (the last one repeats); enabling
 * the stream switches to `afterEnable`. Records the calls.
 */
function fakeTable(states: TableState[], afterEnable: TableState[] = []) {
  let queue = [...states];
  const calls: string[] = [];
  return {
    calls,
    describe: async () => {
      calls.push('DescribeTable');
      return queue.length > 1 ? queue.shift()! : queue[0];
    },
    enableStream: async () => {
      calls.push('UpdateTable');
      queue = [...afterEnable];
    },
    sleep: async () => {
      calls.push('sleep');
    },
  };
}

const active = (s: Partial<TableState> = {}): TableState => ({ status: 'ACTIVE', streamEnabled: false, ...s });
const withStream = (viewType = 'NEW_AND_OLD_IMAGES', streamArn = NEW_ARN) =>
  active({ streamEnabled: true, viewType, streamArn });

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected the deploy to fail');
}

describe('resolveStream', () => {
  it('gives the current NEW_AND_OLD_IMAGES stream and changes nothing, enable or not', async () => {
    for (const enable of [false, true]) {
      const t = fakeTable([withStream()]);
      assert.deepEqual(await resolveStream('mlflow', enable, t), { streamArn: NEW_ARN, enabled: false });
      assert.deepEqual(t.calls, ['DescribeTable']);
    }
  });

  it('without a stream and without enable-stream: fails, naming both fixes', async () => {
    const t = fakeTable([active()]);
    const message = await failure(resolveStream('mlflow', false, t));
    assert.match(message, /table mlflow has no stream: run make enable-stream TABLE=mlflow, or deploy with /);
    assert.match(message, /--context enable-stream=true to turn on a NEW_AND_OLD_IMAGES stream/);
    assert.deepEqual(t.calls, ['DescribeTable']);
  });

  it('a disabled stream is no stream: its stale LatestStreamArn is never given', async () => {
    const disabled = active({ streamEnabled: false, streamArn: OLD_ARN });
    assert.match(await failure(resolveStream('mlflow', false, fakeTable([disabled]))), /has no stream/);
    const t = fakeTable([disabled], [{ ...withStream(), status: 'UPDATING' }, withStream()]);
    assert.deepEqual(await resolveStream('mlflow', true, t), { streamArn: NEW_ARN, enabled: true });
  });

  it('enable-stream turns on NEW_AND_OLD_IMAGES once and waits until the table is ACTIVE with the stream', async () => {
    const t = fakeTable([active()], [active({ status: 'UPDATING' }), withStream()]);
    assert.deepEqual(await resolveStream('mlflow', true, t), { streamArn: NEW_ARN, enabled: true });
    assert.deepEqual(t.calls, ['DescribeTable', 'UpdateTable', 'DescribeTable', 'sleep', 'DescribeTable']);
  });

  it('another view type fails the deploy with the fix, and is never changed, even with enable-stream', async () => {
    const t = fakeTable([withStream('KEYS_ONLY')]);
    const message = await failure(resolveStream('mlflow', true, t));
    assert.match(message, /table mlflow has a KEYS_ONLY stream; the materializer needs NEW_AND_OLD_IMAGES/);
    assert.match(message, /A view type cannot be changed in place/);
    assert.match(message, /aws dynamodb update-table --table-name mlflow --stream-specification StreamEnabled=false/);
    assert.match(message, /then deploy again with --context enable-stream=true/);
    assert.deepEqual(t.calls, ['DescribeTable']);
  });

  it('waits for a table that is not ACTIVE before deciding, and gives up with its status', async () => {
    const t = fakeTable([active({ status: 'UPDATING' }), withStream()]);
    assert.equal((await resolveStream('mlflow', false, t)).streamArn, NEW_ARN);
    assert.deepEqual(t.calls, ['DescribeTable', 'sleep', 'DescribeTable']);
    const stuck = fakeTable([active({ status: 'UPDATING' })]);
    const message = await failure(resolveStream('mlflow', false, stuck, 5000, 3));
    assert.match(message, /table mlflow is not ACTIVE after 15 s \(status UPDATING\)/);
    assert.equal(stuck.calls.filter((c) => c === 'UpdateTable').length, 0);
  });
});

describe('handler', () => {
  it('Delete leaves the table and its stream as they are (no AWS call)', async () => {
    const event = { RequestType: 'Delete', PhysicalResourceId: 'mlflow', ResourceProperties: { TableName: 'mlflow' } };
    const r = await handler(event);
    assert.deepEqual(r, { PhysicalResourceId: 'mlflow' });
  });
});

describe('the inline code in the template, as the Lambda runtime loads it', () => {
  it('maps DescribeTable / UpdateTable of the SDK and answers Create with the stream ARN', async () => {
    // index.js from the template's ZipFile, next to a stand-in for the runtime's SDK that
    // serves a table without a stream, then with one once UpdateTable was sent.
    const { template } = synth(fullContext({ 'enable-stream': 'true' }));
    const fn = Object.values(template.findResources('AWS::Lambda::Function'))
      .map((f) => f.Properties as { Handler: string; Code: { ZipFile?: string } })
      .find((p) => p.Handler === 'index.handler')!;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'table-stream-'));
    const sdk = path.join(dir, 'node_modules', '@aws-sdk', 'client-dynamodb');
    fs.mkdirSync(sdk, { recursive: true });
    fs.writeFileSync(path.join(dir, 'index.js'), fn.Code.ZipFile!);
    fs.writeFileSync(
      path.join(sdk, 'index.js'),
      `const sent = [];
      let stream = false;
      class DescribeTableCommand { constructor(input) { this.name = 'DescribeTable'; this.input = input; } }
      class UpdateTableCommand { constructor(input) { this.name = 'UpdateTable'; this.input = input; } }
      class DynamoDBClient {
        async send(c) {
          sent.push({ name: c.name, input: c.input });
          if (c.name === 'UpdateTable') { stream = true; return {}; }
          return { Table: { TableStatus: 'ACTIVE', ...(stream ? {
            StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
            LatestStreamArn: ${JSON.stringify(NEW_ARN)} } : {}) } };
        }
      }
      module.exports = { DynamoDBClient, DescribeTableCommand, UpdateTableCommand, sent };`,
    );
    const log = console.log;
    console.log = () => {};
    try {
      const { handler: inline } = require(path.join(dir, 'index.js'));
      const props = { TableName: 'mlflow', EnableStream: 'true' };
      const r = await inline({ RequestType: 'Create', ResourceProperties: props });
      assert.deepEqual(r, { PhysicalResourceId: 'mlflow', Data: { StreamArn: NEW_ARN } });
      const { sent } = require(sdk);
      assert.deepEqual(sent, [
        { name: 'DescribeTable', input: { TableName: 'mlflow' } },
        {
          name: 'UpdateTable',
          input: { TableName: 'mlflow', StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' } },
        },
        { name: 'DescribeTable', input: { TableName: 'mlflow' } },
      ]);
    } finally {
      console.log = log;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
