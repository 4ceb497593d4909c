"""SQLite schema migrations, applied in order and recorded in ``schema_migrations``.

Each entry is one version; never edit a released entry, append a new one.  Longer than ~450 lines because it is
the whole append-only history in one ordered list: a version is its position, so splitting it by concept would hide
the order that every existing database was migrated in.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator


def statements(sql: str) -> Iterator[str]:
    """The statements of a migration script, triggers (with ``;`` inside BEGIN ... END) kept whole."""
    buf = ""
    for piece in sql.split(";"):
        buf += piece + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip(" \n;"):
                yield buf
            buf = ""
    if buf.strip(" \n;"):
        raise ValueError(f"incomplete statement in a migration: {buf[:200]!r}")


# Appended to by each feature's migration; the order of the list is the order they run in.
MIGRATIONS: list[str] = [
    # 1: papers, their merged metadata, the per-source records they were merged from,
    # version history, authors and categories for filters, rejects, checkpoints.
    """
    CREATE TABLE papers (
        pid INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        arxiv_id TEXT UNIQUE,
        doi TEXT,
        title_norm TEXT NOT NULL,
        title TEXT NOT NULL,
        abstract TEXT NOT NULL DEFAULT '',
        authors TEXT NOT NULL DEFAULT '[]',
        categories TEXT NOT NULL DEFAULT '',
        primary_category TEXT,
        submitted TEXT,
        updated TEXT,
        version INTEGER,
        withdrawn INTEGER NOT NULL DEFAULT 0,
        data TEXT NOT NULL DEFAULT '{}',
        content_hash TEXT NOT NULL,
        seq INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        modified_at TEXT NOT NULL
    );
    CREATE INDEX papers_doi ON papers(doi) WHERE doi IS NOT NULL;
    CREATE INDEX papers_title_norm ON papers(title_norm);
    CREATE INDEX papers_seq ON papers(seq);
    CREATE INDEX papers_submitted ON papers(submitted, pid);
    CREATE INDEX papers_updated ON papers(updated);

    CREATE TABLE source_records (
        hash TEXT NOT NULL UNIQUE,
        pid INTEGER NOT NULL REFERENCES papers(pid) ON DELETE CASCADE,
        source TEXT NOT NULL,
        version INTEGER,
        seq INTEGER NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX source_records_pid ON source_records(pid);

    CREATE TABLE aliases (
        alias TEXT PRIMARY KEY,
        pid INTEGER NOT NULL REFERENCES papers(pid) ON DELETE CASCADE
    ) WITHOUT ROWID;

    CREATE TABLE versions (
        pid INTEGER NOT NULL REFERENCES papers(pid) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        date TEXT,
        size TEXT,
        PRIMARY KEY (pid, version)
    ) WITHOUT ROWID;

    CREATE TABLE paper_authors (
        pid INTEGER NOT NULL REFERENCES papers(pid) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        name TEXT NOT NULL,
        name_norm TEXT NOT NULL,
        affiliation TEXT,
        PRIMARY KEY (pid, position)
    ) WITHOUT ROWID;
    CREATE INDEX paper_authors_name ON paper_authors(name_norm, pid);

    -- One row per category AND its archive prefix ("cs.LG" and "cs"), with the submission date copied in,
    -- so a category listing is one index range scan, newest first, whatever the category's size.
    CREATE TABLE paper_categories (
        category TEXT NOT NULL,
        submitted TEXT,
        pid INTEGER NOT NULL REFERENCES papers(pid) ON DELETE CASCADE,
        PRIMARY KEY (category, pid)
    ) WITHOUT ROWID;
    CREATE INDEX paper_categories_newest ON paper_categories(category, submitted DESC, pid DESC);
    CREATE INDEX paper_categories_pid ON paper_categories(pid);

    CREATE TABLE rejects (
        rid INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        location TEXT NOT NULL,
        reason TEXT NOT NULL,
        raw TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        UNIQUE (source, location, reason)
    );

    CREATE TABLE state (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );

    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    INSERT INTO meta(key, value) VALUES ('seq', '0');
    """,
    # 2: one listing date rule and date precision (issue 10); stats() counters kept inside each write (issue 9).
    # ``listed`` .. ``listed_end`` is the span of the listing date (first submission, else last update) at the
    # precision the record gave (day, month or year), copied into paper_categories so that a category listing,
    # in a window or not, stays one index range scan.  Year precision is derived where it is knowable: generic
    # JSON Lines records dated 1 January whose venue ends with that year (what a year-only record produced).
    # ``stat_counts`` holds the stats() counters, kept by triggers in the writing transaction.
    """
    ALTER TABLE papers ADD COLUMN date_precision TEXT NOT NULL DEFAULT 'day';
    ALTER TABLE papers ADD COLUMN listed TEXT;
    ALTER TABLE papers ADD COLUMN listed_end TEXT;
    ALTER TABLE paper_categories RENAME COLUMN submitted TO listed;
    ALTER TABLE paper_categories ADD COLUMN listed_end TEXT;
    DROP INDEX paper_categories_newest;
    DROP INDEX papers_submitted;

    UPDATE source_records SET data = json_set(data, '$.date_precision', 'year')
     WHERE source = 'jsonl' AND json_extract(data, '$.submitted') LIKE '____-01-01'
       AND json_extract(data, '$.journal_ref') LIKE '% ' || substr(json_extract(data, '$.submitted'), 1, 4);
    UPDATE papers SET date_precision = 'year', data = json_set(data, '$.date_precision', 'year')
     WHERE submitted LIKE '____-01-01'
       AND EXISTS (SELECT 1 FROM source_records s WHERE s.pid = papers.pid
                   AND json_extract(s.data, '$.date_precision') = 'year')
       AND NOT EXISTS (SELECT 1 FROM source_records s WHERE s.pid = papers.pid
                       AND json_extract(s.data, '$.submitted') IS NOT NULL
                       AND json_extract(s.data, '$.date_precision') IS NULL);
    UPDATE papers SET listed = coalesce(submitted, updated);
    UPDATE papers SET listed_end = CASE date_precision
        WHEN 'year' THEN date(listed, 'start of year', '+1 year', '-1 day')
        WHEN 'month' THEN date(listed, 'start of month', '+1 month', '-1 day')
        ELSE listed END
     WHERE listed IS NOT NULL;
    UPDATE paper_categories SET listed = (SELECT p.listed FROM papers p WHERE p.pid = paper_categories.pid),
                                listed_end = (SELECT p.listed_end FROM papers p WHERE p.pid = paper_categories.pid);
    CREATE INDEX paper_categories_newest ON paper_categories(category, listed DESC, pid DESC, listed_end);
    CREATE INDEX papers_listed ON papers(listed, pid, listed_end);

    CREATE TABLE stat_counts (key TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO stat_counts(key, n) SELECT 'papers', count(*) FROM papers;
    INSERT INTO stat_counts(key, n) SELECT 'with_abstract', count(*) FROM papers WHERE abstract != '';
    INSERT INTO stat_counts(key, n) SELECT 'arxiv_papers', count(*) FROM papers WHERE arxiv_id IS NOT NULL;
    INSERT INTO stat_counts(key, n) SELECT 'withdrawn', count(*) FROM papers WHERE withdrawn;
    INSERT INTO stat_counts(key, n) SELECT 'versions', count(*) FROM versions;
    INSERT INTO stat_counts(key, n) SELECT 'source_records', count(*) FROM source_records;
    INSERT INTO stat_counts(key, n) SELECT 'rejects', count(*) FROM rejects;
    INSERT INTO stat_counts(key, n)
        SELECT 'category:' || coalesce(primary_category, '(none)'), count(*) FROM papers GROUP BY 1;
    INSERT INTO stat_counts(key, n)
        SELECT 'month:' || CASE WHEN listed IS NULL THEN '(unknown)' WHEN date_precision = 'year'
                                THEN substr(listed, 1, 4) ELSE substr(listed, 1, 7) END, count(*)
          FROM papers GROUP BY 1;

    CREATE TRIGGER stat_papers_add AFTER INSERT ON papers BEGIN
        INSERT INTO stat_counts(key, n) VALUES ('papers', +1),
            ('with_abstract', +(new.abstract != '')), ('arxiv_papers', +(new.arxiv_id IS NOT NULL)),
            ('withdrawn', +(new.withdrawn != 0)),
            ('category:' || coalesce(new.primary_category, '(none)'), +1),
            ('month:' || CASE WHEN new.listed IS NULL THEN '(unknown)' WHEN new.date_precision = 'year'
                              THEN substr(new.listed, 1, 4) ELSE substr(new.listed, 1, 7) END, +1)
            ON CONFLICT(key) DO UPDATE SET n = n + excluded.n;
    END;
    CREATE TRIGGER stat_papers_del AFTER DELETE ON papers BEGIN
        INSERT INTO stat_counts(key, n) VALUES ('papers', -1),
            ('with_abstract', -(old.abstract != '')), ('arxiv_papers', -(old.arxiv_id IS NOT NULL)),
            ('withdrawn', -(old.withdrawn != 0)),
            ('category:' || coalesce(old.primary_category, '(none)'), -1),
            ('month:' || CASE WHEN old.listed IS NULL THEN '(unknown)' WHEN old.date_precision = 'year'
                              THEN substr(old.listed, 1, 4) ELSE substr(old.listed, 1, 7) END, -1)
            ON CONFLICT(key) DO UPDATE SET n = n + excluded.n;
    END;
    CREATE TRIGGER stat_papers_change
    AFTER UPDATE OF abstract, arxiv_id, withdrawn, primary_category, listed, date_precision ON papers
    WHEN old.abstract != new.abstract OR old.arxiv_id IS NOT new.arxiv_id OR old.withdrawn != new.withdrawn
      OR old.primary_category IS NOT new.primary_category OR old.listed IS NOT new.listed
      OR old.date_precision != new.date_precision BEGIN
        INSERT INTO stat_counts(key, n) VALUES ('papers', -1),
            ('with_abstract', -(old.abstract != '')), ('arxiv_papers', -(old.arxiv_id IS NOT NULL)),
            ('withdrawn', -(old.withdrawn != 0)),
            ('category:' || coalesce(old.primary_category, '(none)'), -1),
            ('month:' || CASE WHEN old.listed IS NULL THEN '(unknown)' WHEN old.date_precision = 'year'
                              THEN substr(old.listed, 1, 4) ELSE substr(old.listed, 1, 7) END, -1)
            ON CONFLICT(key) DO UPDATE SET n = n + excluded.n;
        INSERT INTO stat_counts(key, n) VALUES ('papers', +1),
            ('with_abstract', +(new.abstract != '')), ('arxiv_papers', +(new.arxiv_id IS NOT NULL)),
            ('withdrawn', +(new.withdrawn != 0)),
            ('category:' || coalesce(new.primary_category, '(none)'), +1),
            ('month:' || CASE WHEN new.listed IS NULL THEN '(unknown)' WHEN new.date_precision = 'year'
                              THEN substr(new.listed, 1, 4) ELSE substr(new.listed, 1, 7) END, +1)
            ON CONFLICT(key) DO UPDATE SET n = n + excluded.n;
    END;
    CREATE TRIGGER stat_versions_add AFTER INSERT ON versions BEGIN
        INSERT INTO stat_counts(key, n) VALUES ('versions', +1)
            ON CONFLICT(key) DO UPDATE SET n = n + excluded.n;
    END;
    CREATE TRIGGER stat_versions_del AFTER DELETE ON versions BEGIN
        INSERT INTO stat_counts(key, n) VALUES ('versions', -1)
            ON CONFLICT(key) DO UPDATE SET n = n + excluded.n;
    END;
    CREATE TRIGGER stat_source_records_add AFTER INSERT ON source_records BEGIN
        INSERT INTO stat_counts(key, n) VALUES ('source_records', +1)
            ON CONFLICT(key) DO UPDATE SET n = n + excluded.n;
    END;
    CREATE TRIGGER stat_source_records_del AFTER DELETE ON source_records BEGIN
        INSERT INTO stat_counts(key, n) VALUES ('source_records', -1)
            ON CONFLICT(key) DO UPDATE SET n = n + excluded.n;
    END;
    CREATE TRIGGER stat_rejects_add AFTER INSERT ON rejects BEGIN
        INSERT INTO stat_counts(key, n) VALUES ('rejects', +1)
            ON CONFLICT(key) DO UPDATE SET n = n + excluded.n;
    END;
    CREATE TRIGGER stat_rejects_del AFTER DELETE ON rejects BEGIN
        INSERT INTO stat_counts(key, n) VALUES ('rejects', -1)
            ON CONFLICT(key) DO UPDATE SET n = n + excluded.n;
    END;
    """,
    # 3: each category's size ("in:cs.LG", archives included), kept by triggers like the other counters, so the
    # total of a whole category listing is one lookup instead of a count over the category's index range.
    """
    INSERT INTO stat_counts(key, n) SELECT 'in:' || category, count(*) FROM paper_categories GROUP BY category;
    CREATE TRIGGER stat_paper_categories_add AFTER INSERT ON paper_categories BEGIN
        INSERT INTO stat_counts(key, n) VALUES ('in:' || new.category, +1)
            ON CONFLICT(key) DO UPDATE SET n = n + excluded.n;
    END;
    CREATE TRIGGER stat_paper_categories_del AFTER DELETE ON paper_categories BEGIN
        INSERT INTO stat_counts(key, n) VALUES ('in:' || old.category, -1)
            ON CONFLICT(key) DO UPDATE SET n = n + excluded.n;
    END;
    """,
    # 4 (accounts, issue 11): readers, sign-in links, sessions, API tokens, hidden papers, the mail outbox and
    # rate-limit counters.  Links, sessions and tokens are stored as SHA-256 digests of their secrets.
    # Times are Unix seconds.
    """
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        email TEXT NOT NULL UNIQUE,
        is_admin INTEGER NOT NULL DEFAULT 0,
        hidden INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        last_sign_in_at REAL
    );

    CREATE TABLE sign_in_links (
        link_hash BLOB PRIMARY KEY,
        email TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        used_at REAL
    ) WITHOUT ROWID;
    CREATE INDEX sign_in_links_expires ON sign_in_links(expires_at);

    CREATE TABLE sessions (
        session_hash BLOB PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX sessions_user ON sessions(user_id);

    CREATE TABLE api_tokens (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        token_hash BLOB NOT NULL UNIQUE,
        created_at REAL NOT NULL,
        last_used_at REAL,
        revoked_at REAL
    );
    CREATE INDEX api_tokens_user ON api_tokens(user_id);

    CREATE TABLE hidden_papers (
        pid INTEGER PRIMARY KEY REFERENCES papers(pid) ON DELETE CASCADE,
        hidden_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
        hidden_at REAL NOT NULL
    );

    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        recipient TEXT NOT NULL,
        subject TEXT NOT NULL,
        body_text TEXT NOT NULL,
        body_html TEXT,
        created_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        claimed_by TEXT,
        lease_until REAL,
        sent_at REAL,
        failed_at REAL,
        last_error TEXT
    );
    CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;

    CREATE TABLE rate_limits (
        key TEXT NOT NULL,
        window_start REAL NOT NULL,
        hits INTEGER NOT NULL,
        PRIMARY KEY (key, window_start)
    ) WITHOUT ROWID;
    """,
    # 5 (readers' signals, paperboy.store.sqlite_events): the append-only event log, each reader's standing
    # marks, per-paper counts, per-day view de-duplication and per-period trending aggregates, all derived from
    # the log in the same transaction as each event.
    """
    CREATE TABLE events (
        eid INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        pid INTEGER NOT NULL,
        actor TEXT NOT NULL,
        is_on INTEGER NOT NULL DEFAULT 1
    );
    CREATE TABLE reader_marks (
        reader INTEGER NOT NULL,
        pid INTEGER NOT NULL REFERENCES papers(pid) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (reader, pid, kind)
    ) WITHOUT ROWID;
    CREATE TABLE paper_counts (
        pid INTEGER PRIMARY KEY REFERENCES papers(pid) ON DELETE CASCADE,
        upvotes INTEGER NOT NULL DEFAULT 0,
        saves INTEGER NOT NULL DEFAULT 0,
        views INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE view_marks (
        pid INTEGER NOT NULL,
        visitor TEXT NOT NULL,
        day TEXT NOT NULL,
        PRIMARY KEY (pid, visitor, day)
    ) WITHOUT ROWID;
    CREATE INDEX view_marks_day ON view_marks(day);
    -- score: the sum of the formula's amounts for events in the period (see docs/trending.md)
    CREATE TABLE trend (
        span TEXT NOT NULL,
        start TEXT NOT NULL,
        pid INTEGER NOT NULL REFERENCES papers(pid) ON DELETE CASCADE,
        score REAL NOT NULL,
        upvotes INTEGER NOT NULL DEFAULT 0,
        saves INTEGER NOT NULL DEFAULT 0,
        views INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (span, start, pid)
    ) WITHOUT ROWID;
    CREATE INDEX trend_rank ON trend(span, start, score DESC, pid);
    -- How many papers each period ranks, kept by triggers: a page's total is one lookup, not a count of ~10^5 rows.
    CREATE TABLE trend_sizes (
        span TEXT NOT NULL,
        start TEXT NOT NULL,
        papers INTEGER NOT NULL,
        PRIMARY KEY (span, start)
    ) WITHOUT ROWID;
    CREATE TRIGGER trend_size_add AFTER INSERT ON trend BEGIN
        INSERT INTO trend_sizes(span, start, papers) VALUES (new.span, new.start, 1)
            ON CONFLICT(span, start) DO UPDATE SET papers = papers + 1;
    END;
    CREATE TRIGGER trend_size_del AFTER DELETE ON trend BEGIN
        UPDATE trend_sizes SET papers = papers - 1 WHERE span = old.span AND start = old.start;
        DELETE FROM trend_sizes WHERE span = old.span AND start = old.start AND papers = 0;
    END;
    INSERT INTO meta(key, value) VALUES ('events_version', '0');
    """,
    # 6 (topics, issue 12, paperboy.store.sqlite_topics): saved searches, the papers each topic has shown its reader
    # (kept across edits of the query: "new" means not yet in topic_seen), and one private-feed token per reader
    # (its SHA-256 only).  Times are Unix seconds.
    """
    CREATE TABLE topics (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        query TEXT NOT NULL,
        category TEXT,
        since TEXT,
        until TEXT,
        author TEXT,
        venue TEXT,
        mode TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        looked_at REAL
    );
    CREATE INDEX topics_user ON topics(user_id, id);
    CREATE TABLE topic_seen (
        topic_id INTEGER NOT NULL REFERENCES topics(id) ON DELETE CASCADE,
        pid INTEGER NOT NULL REFERENCES papers(pid) ON DELETE CASCADE,
        seen_at REAL NOT NULL,
        PRIMARY KEY (topic_id, pid)
    ) WITHOUT ROWID;
    CREATE TABLE topic_feed_tokens (
        user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
        token_hash BLOB NOT NULL UNIQUE,
        created_at REAL NOT NULL
    );
    """,
    # 7 (follows, paperboy.store.sqlite_follows): each reader's follows of authors, categories and venues, where
    # each reader last looked (follow_seen), and the per-paper keys follows are matched by, with the listing date
    # so one follow's newest papers are one index range: paper_people (author block + given-name form, see
    # paperboy.library.authors) and paper_venues.  Keys are
    # computed in Python: the store's write path adds them with a paper's other child rows, a content change drops
    # them (trigger, before the rewrite), and SQLiteFollows.fill_keys() indexes papers stored before this migration
    # once ("follow_keys_filled").
    """
    CREATE TABLE follows (
        reader INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('author', 'category', 'venue')),
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (reader, kind, key)
    ) WITHOUT ROWID;
    CREATE TABLE paper_people (
        block TEXT NOT NULL,
        form TEXT NOT NULL,
        listed TEXT,
        pid INTEGER NOT NULL REFERENCES papers(pid) ON DELETE CASCADE,
        PRIMARY KEY (block, form, pid)
    ) WITHOUT ROWID;
    CREATE INDEX paper_people_newest ON paper_people(block, form, listed DESC, pid DESC);
    CREATE INDEX paper_people_pid ON paper_people(pid);
    CREATE TABLE paper_venues (
        venue TEXT NOT NULL,
        listed TEXT,
        pid INTEGER NOT NULL REFERENCES papers(pid) ON DELETE CASCADE,
        PRIMARY KEY (venue, pid)
    ) WITHOUT ROWID;
    CREATE INDEX paper_venues_newest ON paper_venues(venue, listed DESC, pid DESC);
    CREATE INDEX paper_venues_pid ON paper_venues(pid);
    -- What "new" on a reader's Following page means: papers stored (pid order is arrival order) after the
    -- reader's look before the last one.  Each visit of the page's first page moves current to previous.
    CREATE TABLE follow_seen (
        reader INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
        previous INTEGER,
        current INTEGER NOT NULL
    );
    CREATE TRIGGER follow_keys_stale AFTER UPDATE OF content_hash ON papers BEGIN
        DELETE FROM paper_people WHERE pid = new.pid;
        DELETE FROM paper_venues WHERE pid = new.pid;
    END;
    INSERT INTO meta(key, value) VALUES ('follow_keys_filled', (SELECT CASE count(*) WHEN 0 THEN '1' ELSE '0' END
                                                                FROM papers));
    """,
    # 8 (collections, issue 12; paperboy.store.sqlite_collections): a reader's named lists of papers (the one with
    # is_default=1 mirrors their saves), an item per paper with its note and position, the SHA-256 of a collection's
    # share link, and marks imported for papers this instance does not have yet (kept by id, never dropped).
    # An item's paper is ``pid`` when the paper is here, else only ``paper_ref`` (the id it was imported as).
    """
    CREATE TABLE collections (
        id INTEGER PRIMARY KEY,
        reader INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        is_default INTEGER NOT NULL DEFAULT 0,
        position INTEGER NOT NULL,
        share_hash BLOB UNIQUE,
        created_at REAL NOT NULL,
        UNIQUE (reader, name)
    );
    CREATE UNIQUE INDEX collections_default ON collections(reader) WHERE is_default = 1;
    CREATE TABLE collection_items (
        collection INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        pid INTEGER REFERENCES papers(pid) ON DELETE CASCADE,
        paper_ref TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        position INTEGER NOT NULL,
        added_at REAL NOT NULL,
        PRIMARY KEY (collection, paper_ref)
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX collection_items_pid ON collection_items(collection, pid) WHERE pid IS NOT NULL;
    CREATE INDEX collection_items_order ON collection_items(collection, position);
    CREATE TABLE pending_marks (
        reader INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        paper_ref TEXT NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (reader, kind, paper_ref)
    ) WITHOUT ROWID;
    """,
    # 9 (digest subscriptions, paperboy.store.sqlite_subscriptions): one subscription per reader (created when the
    # address is confirmed), pending double opt-in requests (SHA-256 of the mailed secret), the papers each digest
    # held (so no paper is sent twice), digest feedback and clicks, extra headers on outbox mail (List-Unsubscribe)
    # and the key that signs digest links (random, made here, never leaves the database).
    """
    CREATE TABLE subscriptions (
        reader_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
        frequency TEXT NOT NULL DEFAULT 'daily',
        send_hour INTEGER NOT NULL DEFAULT 7,
        tz TEXT NOT NULL DEFAULT 'UTC',
        skip_no_announcement INTEGER NOT NULL DEFAULT 1,
        paused INTEGER NOT NULL DEFAULT 0,
        categories TEXT NOT NULL DEFAULT '',
        sections TEXT NOT NULL DEFAULT 'trending follows recommended',
        confirmed_at REAL NOT NULL,
        unsubscribed_at REAL,
        bounced_at REAL,
        bounce_kind TEXT,
        created_at REAL NOT NULL
    );
    CREATE TABLE subscription_requests (
        token_hash BLOB PRIMARY KEY,
        email TEXT NOT NULL,
        frequency TEXT NOT NULL,
        tz TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        used_at REAL
    ) WITHOUT ROWID;
    CREATE INDEX subscription_requests_expires ON subscription_requests(expires_at);
    CREATE TABLE digest_papers (
        reader_id INTEGER NOT NULL,
        paper_id TEXT NOT NULL,
        period TEXT NOT NULL,
        day TEXT NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (reader_id, paper_id)
    ) WITHOUT ROWID;
    CREATE TABLE digest_feedback (
        reader_id INTEGER NOT NULL,
        paper_id TEXT NOT NULL,
        vote TEXT NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (reader_id, paper_id)
    ) WITHOUT ROWID;
    CREATE TABLE digest_clicks (
        id INTEGER PRIMARY KEY,
        reader_id INTEGER NOT NULL,
        paper_id TEXT NOT NULL,
        period TEXT NOT NULL,
        at REAL NOT NULL
    );
    ALTER TABLE outbox ADD COLUMN headers TEXT NOT NULL DEFAULT '[]';
    INSERT INTO meta(key, value) VALUES ('digest_signing_key', lower(hex(randomblob(32))));
    """,
    # 10 (the digest's delivery, paperboy.store.sqlite_digests): one row per reader and period, its content
    # frozen when composed and its mail queued (and its papers recorded) in the same transaction; named leases
    # (one scheduler among many processes); each daily-cycle step's last run; recorded bounces and complaints.
    # Times are Unix seconds.
    """
    CREATE TABLE digests (
        id INTEGER PRIMARY KEY,
        reader_id INTEGER NOT NULL,
        period TEXT NOT NULL,
        email TEXT NOT NULL,
        state TEXT NOT NULL,
        content TEXT,
        mail_key TEXT,
        claimed_by TEXT,
        lease_until REAL,
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        created_at REAL NOT NULL,
        done_at REAL,
        UNIQUE (reader_id, period)
    );
    CREATE INDEX digests_done ON digests(done_at);
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        until REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE cycle_steps (
        step TEXT PRIMARY KEY,
        started_at REAL,
        finished_at REAL,
        duration_s REAL,
        ok INTEGER,
        counts TEXT NOT NULL DEFAULT '{}',
        error TEXT,
        failures INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL DEFAULT 0,
        last_success_at REAL
    ) WITHOUT ROWID;
    CREATE TABLE bounces (
        id INTEGER PRIMARY KEY,
        email TEXT NOT NULL,
        kind TEXT NOT NULL,
        at REAL NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX bounces_email ON bounces(email);
    """,
]
