"""Models the library suite runs against: the seed's Article/Post and a few more."""

from __future__ import annotations

from dynamo_backend import (
    CASCADE,
    PROTECT,
    SET_NULL,
    BinaryField,
    BooleanField,
    CharField,
    CompositePrimaryKey,
    DateTimeField,
    DecimalField,
    DynamoModel,
    FloatField,
    Index,
    IntegerField,
    JSONField,
    ListField,
    SetField,
    ShardedCounter,
    ShardKeyField,
    UUIDField,
    VersionField,
)


class Article(DynamoModel):
    """The seed README's model definition, as written there."""

    class Meta:
        app_label = "libtests"
        table_name = "articles"

    title = CharField(max_length=200, nullable=False)
    published = BooleanField(default=False)
    view_count = IntegerField(default=0)
    created_at = DateTimeField(auto_now_add=True)
    updated_at = DateTimeField(auto_now=True)


class Post(DynamoModel):
    """The model the seed's QuerySet cheat sheet is written against."""

    class Meta:
        app_label = "libtests"

    title = CharField(max_length=200, nullable=False)
    slug = CharField(max_length=200, unique=True)
    author_pk = CharField(index=True)
    published = BooleanField(default=False)
    tags = ListField()
    view_count = IntegerField(default=0)
    price = DecimalField()
    rating = FloatField()
    data = JSONField()
    created_at = DateTimeField(auto_now_add=True)


class Comment(DynamoModel):
    """A GSI with a sort key: comments of a post, oldest first."""

    class Meta:
        app_label = "libtests"
        indexes = [Index("post_pk", sort_key="created_at")]

    post_pk = CharField()
    body = CharField()
    created_at = DateTimeField(auto_now_add=True, nullable=False)


class Reserved(DynamoModel):
    """Every field name here is a DynamoDB reserved word."""

    class Meta:
        app_label = "libtests"

    name = CharField(index=True)
    status = CharField()
    comment = CharField()
    data = JSONField()
    date = DateTimeField()
    count = IntegerField()


class Versioned(DynamoModel):
    """Optimistic locking."""

    class Meta:
        app_label = "libtests"

    title = CharField()
    version = VersionField()


class Blob(DynamoModel):
    """Large items, to push Query/Scan past the 1 MB page."""

    class Meta:
        app_label = "libtests"

    group = CharField(index=True)
    payload = CharField()


class Typed(DynamoModel):
    """One field of every type, for round trips."""

    class Meta:
        app_label = "libtests"

    i = IntegerField()
    f = FloatField()
    d = DecimalField()
    dt = DateTimeField()
    j = JSONField()
    items = ListField()
    u = UUIDField(auto=False)
    b = BooleanField()


ALL_MODELS = [Article, Post, Comment, Reserved, Versioned, Blob, Typed]


class Writer(DynamoModel):
    """The target of a reference, for fan-out tests."""

    class Meta:
        app_label = "libtests"

    name = CharField()
    tags = ListField()


class Story(DynamoModel):
    """References a Writer: ``story.writer`` and ``prefetch("writer")``."""

    class Meta:
        app_label = "libtests"
        indexes = [Index("shelf", sort_key="created_at")]

    shelf = CharField(default="all")
    title = CharField()
    writer_pk = UUIDField(auto=False, references=Writer)
    created_at = DateTimeField(auto_now_add=True, nullable=False)


class Uncached(DynamoModel):
    """Meta.cache_ttl = 0: never in the item or query cache."""

    class Meta:
        app_label = "libtests"
        cache_ttl = 0

    title = CharField()


class Row(DynamoModel):
    """The model of the issue: an index=True field and a GSI whose sort key is nullable."""

    class Meta:
        app_label = "libtests"
        indexes = [Index("grp", sort_key="rank")]

    cat = CharField(index=True)
    grp = CharField()
    rank = IntegerField()
    num = IntegerField()
    note = CharField()


class Pair(DynamoModel):
    class Meta:
        app_label = "libtests"
        unique_together = [("owner", "name")]

    owner = CharField()
    name = CharField()
    rank = IntegerField()


class Shelf(DynamoModel):
    """A parent whose children are PROTECTed."""

    class Meta:
        app_label = "libtests"

    name = CharField(unique=True)


class Book(DynamoModel):
    class Meta:
        app_label = "libtests"

    shelf_pk = UUIDField(auto=False, references="libtests.Shelf", on_delete=PROTECT, index=True)
    title = CharField()


class Album(DynamoModel):
    """A parent whose tracks go with it (CASCADE) and whose sleeve notes are detached (SET_NULL)."""

    class Meta:
        app_label = "libtests"

    name = CharField()


class Track(DynamoModel):
    class Meta:
        app_label = "libtests"

    album_pk = UUIDField(auto=False, references="libtests.Album", on_delete=CASCADE, index=True)
    title = CharField()


class Lyric(DynamoModel):
    """A grandchild: deleting an album cascades to its tracks and on to their lyrics."""

    class Meta:
        app_label = "libtests"

    track_pk = UUIDField(auto=False, references="libtests.Track", on_delete=CASCADE, index=True)
    line = CharField()


class Sleeve(DynamoModel):
    class Meta:
        app_label = "libtests"

    album_pk = UUIDField(auto=False, references="libtests.Album", on_delete=SET_NULL, index=True)
    text = CharField()


INTEGRITY_MODELS = [Shelf, Book, Album, Track, Lyric, Sleeve]


class Thread(DynamoModel):
    """A parent whose messages live under its key in the messages table (CASCADE)."""

    class Meta:
        app_label = "libtests"

    title = CharField()


class Message(DynamoModel):
    """A HASH+RANGE table: messages stored under their thread, a local index on score, a GSI on author."""

    class Meta:
        app_label = "libtests"
        indexes = [Index("thread_pk", sort_key="score", local=True), Index("author", sort_key="sent")]

    pk = CompositePrimaryKey("thread_pk", "sent")
    thread_pk = UUIDField(auto=False, nullable=False, references="libtests.Thread", on_delete=CASCADE)
    sent = DateTimeField(nullable=False)
    author = CharField()
    score = IntegerField()
    body = CharField()
    slug = CharField(unique=True)


COMPOSITE_MODELS = [Thread, Message]


class Counted(DynamoModel):
    """Sharded counters: one with a base field on the item, one without."""

    class Meta:
        app_label = "libtests"

    title = CharField()
    hits = IntegerField(default=0)
    views = ShardedCounter(shards=4, base="hits")
    likes = ShardedCounter(shards=2)


class Entry(DynamoModel):
    """A write-sharded feed: ShardKeyField + Index(feed, sort_key=created_at)."""

    class Meta:
        app_label = "libtests"
        indexes = [Index("feed", sort_key="created_at")]

    feed = ShardKeyField(shards=4)
    title = CharField()
    created_at = DateTimeField(auto_now_add=True, nullable=False)


class Tagged(DynamoModel):
    """Sets (SS / NS / BS) and bytes (B), a binary GSI partition key and a binary GSI sort key (issue 12)."""

    class Meta:
        app_label = "libtests"
        indexes = [Index("kind", sort_key="digest")]

    kind = CharField()
    digest = BinaryField()
    blob = BinaryField(index=True)
    tags = SetField(of="string")
    scores = SetField(of="number")
    blobs = SetField(of="binary")
    ids = SetField(IntegerField(), choices=[1, 2, 3, 4, 5])
    data = JSONField()
    items = ListField()
    title = CharField()
    n = IntegerField()


class Guarded(DynamoModel):
    """Conditional saves and deletes with a version field and a unique value."""

    class Meta:
        app_label = "libtests"

    status = CharField()
    slug = CharField(unique=True)
    n = IntegerField()
    version = VersionField()


class Memo(DynamoModel):
    """Index projections: owner's index holds keys only, shelf's the keys plus title and n."""

    class Meta:
        app_label = "libtests"
        indexes = [
            Index("owner", sort_key="rank", name="owner-keys", projection=Index.KEYS_ONLY),
            Index("shelf", sort_key="rank", name="shelf-some", include=["title", "n"]),
        ]

    owner = CharField()
    shelf = CharField()
    rank = IntegerField(nullable=False)
    title = CharField()
    n = IntegerField()
    body = CharField()


class MemoAll(DynamoModel):
    """Memo's twin with ALL indexes: what the projected ones must answer alike."""

    class Meta:
        app_label = "libtests"
        indexes = [
            Index("owner", sort_key="rank", name="owner-keys"),
            Index("shelf", sort_key="rank", name="shelf-some"),
        ]

    owner = CharField()
    shelf = CharField()
    rank = IntegerField(nullable=False)
    title = CharField()
    n = IntegerField()
    body = CharField()


class Ledger(DynamoModel):
    """A composite-key table with a KEYS_ONLY local index (readable consistently)."""

    class Meta:
        app_label = "libtests"
        indexes = [Index("book", sort_key="score", local=True, projection=Index.KEYS_ONLY)]

    pk = CompositePrimaryKey("book", "line")
    book = CharField(nullable=False)
    line = IntegerField(nullable=False)
    score = IntegerField()
    text = CharField()
