"""Build a table and a 10,000-record DynamoDB stream event for it (for the
materializer's peak-RSS measurement): 100 experiments (E#META) with 99 tag
items each, written with BatchWriteItem; the event holds one INSERT record
per item, in Lambda's JSON shape.

Usage (endpoint from AWS_ENDPOINT_URL): materializer_event.py TABLE OUT.json
"""
import json
import os
import sys

import boto3

table, out = sys.argv[1], sys.argv[2]
c = boto3.client("dynamodb", region_name=os.environ.get("AWS_REGION", "us-east-1"))
c.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
               AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                     {"AttributeName": "SK", "AttributeType": "S"}],
               KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}])
items = []
for e in range(100):
    pk = f"EXP#rss{e:03}"
    items.append({"PK": {"S": pk}, "SK": {"S": "E#META"}, "name": {"S": f"memory bench experiment {e}"}, "tags": {"M": {}}})
    for t in range(99):
        key = f"mlflow.tag{t:02}"
        items.append({"PK": {"S": pk}, "SK": {"S": f"E#TAG#{key}"}, "key": {"S": key}, "value": {"S": f"value {e} {t}"}})
for i in range(0, len(items), 25):
    c.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": it}} for it in items[i:i + 25]]})
records = []
for n, it in enumerate(items):
    records.append({"eventID": str(n), "eventName": "INSERT", "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
                    "dynamodb": {"Keys": {"PK": it["PK"], "SK": it["SK"]}, "NewImage": it,
                                 "SequenceNumber": f"{n + 1:021}", "StreamViewType": "NEW_AND_OLD_IMAGES",
                                 "ApproximateCreationDateTime": 1700000000}})
with open(out, "w", encoding="utf-8") as f:
    json.dump({"Records": records}, f)
print(f"{len(records)} records", file=sys.stderr)
