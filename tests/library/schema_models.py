"""Models in two versions over one table, for the schema evolution tests (plan / apply).

``V1`` is what the table was created for; ``V2`` is the code after a change.
Both are registered (as every test model is) and valid together: creating
every model's tables creates V1's, then adds what V2 lacks. Vault is not
registered: a deletion-protected table among every model's would stop
`dynamo_tables delete`, as it should.
"""

from __future__ import annotations

from dynamo_backend import (
    CharField,
    CompositePrimaryKey,
    DynamoModel,
    Index,
    IntegerField,
    ShardedCounter,
    TTLField,
)


class ShopV1(DynamoModel):
    class Meta:
        app_label = "schematests"
        table_name = "shops"

    name = CharField(index=True)
    email = CharField()
    city = CharField()


class ShopV2(DynamoModel):
    """email became unique, name lost its index, city gained one."""

    class Meta:
        app_label = "schematests"
        table_name = "shops"

    name = CharField()
    email = CharField(unique=True)
    city = CharField(index=True)


class ShopV3(DynamoModel):
    """The same index name, another key: the index is replaced."""

    class Meta:
        app_label = "schematests"
        table_name = "shops"
        indexes = [Index("city", sort_key="name", name="name-index")]

    name = CharField()
    email = CharField()
    city = CharField()


class ShopV4(DynamoModel):
    """name's index projects keys only now: the index is replaced."""

    class Meta:
        app_label = "schematests"
        table_name = "shops"
        indexes = [Index("name", projection=Index.KEYS_ONLY)]

    name = CharField()
    email = CharField()
    city = CharField()


class ShopV5(DynamoModel):
    """name's index projects the keys, city and email: replaced again."""

    class Meta:
        app_label = "schematests"
        table_name = "shops"
        indexes = [Index("name", include=["city", "email"])]

    name = CharField()
    email = CharField()
    city = CharField()


class LogV1(DynamoModel):
    class Meta:
        app_label = "schematests"
        table_name = "logs"
        indexes = [Index("stream", sort_key="level", local=True)]

    pk = CompositePrimaryKey("stream", "at")
    stream = CharField(nullable=False)
    at = IntegerField(nullable=False)
    level = IntegerField()
    code = IntegerField()


class LogV2(DynamoModel):
    """Another local index: the table must be rebuilt, never changed in place."""

    class Meta:
        app_label = "schematests"
        table_name = "logs"
        indexes = [Index("stream", sort_key="code", local=True)]

    pk = CompositePrimaryKey("stream", "at")
    stream = CharField(nullable=False)
    at = IntegerField(nullable=False)
    level = IntegerField()
    code = IntegerField()


class TicketV1(DynamoModel):
    class Meta:
        app_label = "schematests"
        table_name = "tickets"
        stream_view_type = None

    title = CharField()


class TicketV2(DynamoModel):
    """Gains a TTL, a stream (the project default), capacity, tags and a sharded counter."""

    class Meta:
        app_label = "schematests"
        table_name = "tickets"
        billing_mode = "PROVISIONED"
        read_capacity = 3
        write_capacity = 2
        tags = {"team": "support"}

    title = CharField()
    expires_at = TTLField()
    views = ShardedCounter(shards=2)


class Vault(DynamoModel):
    """Every table option at once; abstract (never registered), so its deletion protection is only in its tests."""

    class Meta:
        app_label = "schematests"
        abstract = True
        table_name = "vaults"
        billing_mode = "PROVISIONED"
        read_capacity = 4
        write_capacity = 3
        index_capacity = {"owner-index": (2, 1)}
        point_in_time_recovery = True
        deletion_protection = True
        tags = {"data": "secret", "team": "vault"}
        sse_kms_key = "aws/dynamodb"
        stream_view_type = "KEYS_ONLY"

    owner = CharField(index=True)
    code = CharField(unique=True)
