// The custom resource behind TableStream (lib/table-stream.ts): at every deploy, the table's
// *current* stream ARN, and with EnableStream the NEW_AND_OLD_IMAGES stream turned on when the
// table has none (what `make enable-stream` does). Inline code for the Lambda Node.js runtime,
// using the AWS SDK v3 the runtime ships; no dependency of its own. `resolveStream` takes the
// table calls as a parameter: the tests run it against a fake table.
'use strict';

const VIEW_TYPE = 'NEW_AND_OLD_IMAGES';

/**
 * @typedef {{ status: string, streamEnabled: boolean, viewType?: string, streamArn?: string }} TableState
 * @typedef {{ describe: () => Promise<TableState>, enableStream: () => Promise<void>,
 *   sleep: (ms: number) => Promise<void> }} TableCalls
 */

/**
 * The ARN of `table`'s enabled NEW_AND_OLD_IMAGES stream, turning one on first when `enable` is
 * set and the table has no stream. Waits for the table to be ACTIVE before deciding, and after
 * enabling until the stream exists. Throws, with the fix, on anything else: the deploy fails.
 * @param {string} table
 * @param {boolean} enable
 * @param {TableCalls} calls
 * @returns {Promise<{ streamArn: string, enabled: boolean }>}
 */
async function resolveStream(table, enable, calls, pollMs = 5000, maxPolls = 100) {
  /** @param {string} what @param {(s: TableState) => boolean} ok */
  const waitFor = async (what, ok) => {
    for (let i = 0; ; i++) {
      const s = await calls.describe();
      if (ok(s)) return s;
      if (i >= maxPolls) {
        throw new Error(`table ${table} is not ${what} after ${(i * pollMs) / 1000} s (status ${s.status})`);
      }
      await calls.sleep(pollMs);
    }
  };
  let s = await waitFor('ACTIVE', (t) => t.status === 'ACTIVE');
  let enabled = false;
  if (s.streamEnabled) {
    if (s.viewType !== VIEW_TYPE) {
      throw new Error(
        `table ${table} has a ${s.viewType} stream; the materializer needs ${VIEW_TYPE} (old images ` +
          'for tag deletes). A view type cannot be changed in place, and neither make enable-stream ' +
          `nor --context enable-stream=true changes it: aws dynamodb update-table --table-name ${table} ` +
          '--stream-specification StreamEnabled=false, wait until the table is ACTIVE, then deploy ' +
          'again with --context enable-stream=true (records of the old stream are lost; its other ' +
          'consumers must move)',
      );
    }
  } else if (!enable) {
    throw new Error(
      `table ${table} has no stream: run make enable-stream TABLE=${table}, or deploy with ` +
        `--context enable-stream=true to turn on a ${VIEW_TYPE} stream`,
    );
  } else {
    await calls.enableStream();
    enabled = true;
    s = await waitFor('ACTIVE with a stream', (t) => t.status === 'ACTIVE' && t.streamEnabled && !!t.streamArn);
  }
  if (!s.streamArn) throw new Error(`table ${table}: stream enabled but DescribeTable gives no LatestStreamArn`);
  return { streamArn: s.streamArn, enabled };
}

/**
 * The Provider framework's onEvent handler. Delete leaves the table as it is: the stream may
 * outlive the stack (the README's rollback says how to turn it off).
 * @param {{ RequestType: string, PhysicalResourceId?: string,
 *   ResourceProperties: { TableName: string, EnableStream?: string } }} event
 */
async function handler(event) {
  const table = event.ResourceProperties.TableName;
  if (event.RequestType === 'Delete') return { PhysicalResourceId: event.PhysicalResourceId };
  // @ts-expect-error -- the SDK ships with the Lambda runtime; this package does not install it.
  const { DynamoDBClient, DescribeTableCommand, UpdateTableCommand } = require('@aws-sdk/client-dynamodb');
  const ddb = new DynamoDBClient({});
  /** @type {TableCalls} */
  const calls = {
    describe: async () => {
      const t = (await ddb.send(new DescribeTableCommand({ TableName: table }))).Table;
      return {
        status: t.TableStatus,
        streamEnabled: t.StreamSpecification?.StreamEnabled === true,
        viewType: t.StreamSpecification?.StreamViewType,
        streamArn: t.LatestStreamArn,
      };
    },
    enableStream: async () => {
      await ddb.send(new UpdateTableCommand({
        TableName: table,
        StreamSpecification: { StreamEnabled: true, StreamViewType: VIEW_TYPE },
      }));
    },
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  };
  const r = await resolveStream(table, event.ResourceProperties.EnableStream === 'true', calls);
  console.log(JSON.stringify({ table, streamArn: r.streamArn, enabled: r.enabled }));
  return { PhysicalResourceId: table, Data: { StreamArn: r.streamArn } };
}

module.exports = { VIEW_TYPE, resolveStream, handler };
