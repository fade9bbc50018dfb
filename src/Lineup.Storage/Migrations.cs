namespace Lineup.Storage;

/// <summary>One forward-only schema step. Steps are never edited once released: a change is a new step.</summary>
public sealed record Migration(int Version, string Description, string Sql);

/// <summary>
/// The catalog schema as an ordered list of steps. <see cref="SqliteCatalog.OpenAsync(string, string, CancellationToken)"/> applies the pending ones
/// in one transaction and records each in <c>schema_version</c>; a catalog written by a newer build is refused.
/// </summary>
public static class Migrations
{
    /// <summary>The schema version this build writes.</summary>
    public static int LatestVersion => All[^1].Version;

    public static IReadOnlyList<Migration> All { get; } =
    [
        new(1, "collections, images, faces", """
            CREATE TABLE collections (
                id            INTEGER PRIMARY KEY AUTOINCREMENT,
                name          TEXT    NOT NULL UNIQUE,
                lawful_basis  TEXT    NOT NULL,
                jurisdiction  TEXT,
                created_at    TEXT    NOT NULL
            );

            -- AUTOINCREMENT: ids are never reused after a delete, because face ids are the keys of the derived
            -- vector index and a reused id would resurrect an erased face's vector under a new face.
            CREATE TABLE images (
                id             INTEGER PRIMARY KEY AUTOINCREMENT,
                collection_id  INTEGER NOT NULL REFERENCES collections(id),
                sha256         BLOB    NOT NULL UNIQUE CHECK (length(sha256) = 32),
                byte_length    INTEGER NOT NULL,
                format         TEXT    NOT NULL,
                width          INTEGER NOT NULL,
                height         INTEGER NOT NULL,
                source_url     TEXT,
                page_url       TEXT,
                captured_at    TEXT,
                fetched_at     TEXT,
                original_path  TEXT,
                added_at       TEXT    NOT NULL
            );
            CREATE INDEX images_collection ON images(collection_id);

            CREATE TABLE faces (
                id              INTEGER PRIMARY KEY AUTOINCREMENT,
                image_id        INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
                x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,
                left_eye_x    REAL NOT NULL, left_eye_y    REAL NOT NULL,
                right_eye_x   REAL NOT NULL, right_eye_y   REAL NOT NULL,
                nose_x        REAL NOT NULL, nose_y        REAL NOT NULL,
                mouth_left_x  REAL NOT NULL, mouth_left_y  REAL NOT NULL,
                mouth_right_x REAL NOT NULL, mouth_right_y REAL NOT NULL,
                detector_score  REAL    NOT NULL,
                embedding       BLOB    NOT NULL,
                model_id        TEXT    NOT NULL
            );
            CREATE INDEX faces_image ON faces(image_id);
            -- Index sync reads embeddings of one model in id order.
            CREATE INDEX faces_model_id ON faces(model_id, id);
            """),
        new(2, "perceptual hashes and near-duplicates, sightings, ingest runs and items", """
            -- 64-bit perceptual hash stored as its two's-complement INTEGER; NULL for images catalogued before it.
            ALTER TABLE images ADD COLUMN phash INTEGER;
            -- A re-encoded or resized copy points at the image whose faces it shares; it has no faces of its own.
            ALTER TABLE images ADD COLUMN near_duplicate_of INTEGER REFERENCES images(id) ON DELETE CASCADE;
            CREATE INDEX images_near_duplicate ON images(near_duplicate_of) WHERE near_duplicate_of IS NOT NULL;

            CREATE TABLE ingest_runs (
                id             INTEGER PRIMARY KEY AUTOINCREMENT,
                collection_id  INTEGER NOT NULL REFERENCES collections(id),
                source_kind    TEXT    NOT NULL,
                source         TEXT    NOT NULL,
                status         TEXT    NOT NULL CHECK (status IN ('running', 'interrupted', 'completed', 'failed')),
                total_items    INTEGER,
                items_done     INTEGER NOT NULL DEFAULT 0,
                last_item_name TEXT,
                resumes        INTEGER NOT NULL DEFAULT 0,
                started_at     TEXT    NOT NULL,
                updated_at     TEXT    NOT NULL,
                finished_at    TEXT,
                error          TEXT
            );
            CREATE INDEX ingest_runs_source ON ingest_runs(collection_id, source_kind, source);

            -- One row per source item, written in the transaction that stored what the item produced.
            CREATE TABLE ingest_items (
                run_id       INTEGER NOT NULL REFERENCES ingest_runs(id) ON DELETE CASCADE,
                seq          INTEGER NOT NULL,
                name         TEXT    NOT NULL,
                status       TEXT    NOT NULL CHECK (status IN ('ingested', 'no_face', 'duplicate', 'near_duplicate', 'refused', 'failed')),
                faces        INTEGER NOT NULL DEFAULT 0,
                image_id     INTEGER REFERENCES images(id) ON DELETE SET NULL,
                reason       TEXT,
                recorded_at  TEXT    NOT NULL,
                PRIMARY KEY (run_id, seq)
            ) WITHOUT ROWID;
            CREATE INDEX ingest_items_status ON ingest_items(run_id, status);

            -- Every place an image was seen: its URL, the page embedding it, the operator's file. The columns of
            -- images keep the first sighting; this table keeps them all ("also seen at").
            CREATE TABLE sightings (
                id             INTEGER PRIMARY KEY AUTOINCREMENT,
                image_id       INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
                collection_id  INTEGER NOT NULL REFERENCES collections(id),
                run_id         INTEGER REFERENCES ingest_runs(id) ON DELETE SET NULL,
                source_url     TEXT,
                page_url       TEXT,
                captured_at    TEXT,
                fetched_at     TEXT,
                original_path  TEXT,
                record_id      TEXT,
                licence        TEXT,
                seen_at        TEXT    NOT NULL
            );
            CREATE UNIQUE INDEX sightings_place ON sightings(image_id, coalesce(source_url, ''), coalesce(page_url, ''), coalesce(original_path, ''));

            INSERT INTO sightings(image_id, collection_id, source_url, page_url, captured_at, fetched_at, original_path, seen_at)
            SELECT id, collection_id, source_url, page_url, captured_at, fetched_at, original_path, added_at FROM images;
            """),
        new(3, "face quality", """
            -- FaceQuality: the 0-100 score and every component it was formed from. NULL for faces catalogued before
            -- quality was assessed (unknown, not bad); the score is NULL exactly when the quality is unknown.
            ALTER TABLE faces ADD COLUMN quality_score REAL;
            ALTER TABLE faces ADD COLUMN quality_inter_eye REAL;
            ALTER TABLE faces ADD COLUMN quality_sharpness REAL;
            ALTER TABLE faces ADD COLUMN quality_brightness REAL;
            ALTER TABLE faces ADD COLUMN quality_contrast REAL;
            ALTER TABLE faces ADD COLUMN quality_yaw REAL;
            ALTER TABLE faces ADD COLUMN quality_pitch REAL;
            ALTER TABLE faces ADD COLUMN quality_roll REAL;
            ALTER TABLE faces ADD COLUMN quality_landmark_fit REAL;
            """),
        new(4, "sighting hosts for source-domain filters; indexes for search filters", """
            -- The host of each URL with its labels reversed ("img.example.com" -> "com.example.img"), so "example.com
            -- and its subdomains" is one index range: 'com.example' itself, or >= 'com.example.' and < 'com.example/'.
            -- Written by the application (SourceDomain); lineup_reversed_host() is registered on the migrating connection.
            ALTER TABLE sightings ADD COLUMN source_host_reversed TEXT;
            ALTER TABLE sightings ADD COLUMN page_host_reversed TEXT;
            UPDATE sightings SET source_host_reversed = lineup_reversed_host(source_url), page_host_reversed = lineup_reversed_host(page_url);

            -- Each filter criterion has an index that also carries image_id, so a one-criterion filter never reads a
            -- sighting row: at 1M faces a domain matching every photo resolved in 0.9 s this way, 7 s through rows.
            CREATE INDEX sightings_source_host ON sightings(source_host_reversed, image_id) WHERE source_host_reversed IS NOT NULL;
            CREATE INDEX sightings_page_host ON sightings(page_host_reversed, image_id) WHERE page_host_reversed IS NOT NULL;
            CREATE INDEX sightings_captured ON sightings(captured_at, image_id) WHERE captured_at IS NOT NULL;
            CREATE INDEX sightings_collection ON sightings(collection_id, image_id);

            -- Matched images to their faces of one model without reading a face row (1 KB of embedding each): 12.7 s
            -- for half of 1M faces through rows, 0.24 s through this index. It leads with image_id, so it serves all
            -- that faces_image did.
            CREATE INDEX faces_image_model ON faces(image_id, model_id);
            DROP INDEX faces_image;
            """),
        new(5, "the record of searches", """
            -- One row per 1:N search: who, which probe (by SHA-256 only: no image, no embedding), its quality against the
            -- floor and any override with its reason, the parameters, the gallery size and what came back.
            CREATE TABLE searches (
                id               INTEGER PRIMARY KEY AUTOINCREMENT,
                at               TEXT    NOT NULL,
                by_user          TEXT    NOT NULL,
                probe_sha256     TEXT    NOT NULL,
                faces_in_probe   INTEGER NOT NULL,
                face             INTEGER,
                quality          REAL,
                quality_floor    REAL    NOT NULL,
                quality_override TEXT,
                outcome          TEXT    NOT NULL CHECK (outcome IN ('candidates', 'no_candidate_above_threshold', 'refused_low_quality', 'no_face')),
                parameters       TEXT    NOT NULL,
                model_id         TEXT    NOT NULL,
                gallery_size     INTEGER NOT NULL,
                candidates       INTEGER NOT NULL,
                above_threshold  INTEGER NOT NULL,
                duration_ms      REAL    NOT NULL
            );
            CREATE INDEX searches_at ON searches(at);
            """),
        new(6, "face thumbnails and image previews", """
            -- What the analyst sees instead of the original (which is never copied into the data directory): a small JPEG
            -- of each face and a downscaled JPEG of each image, written in the same transaction as the face or image, so
            -- that an erased face or image takes its pictures with it (ON DELETE CASCADE).
            CREATE TABLE face_thumbnails (
                face_id  INTEGER PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
                width    INTEGER NOT NULL,
                height   INTEGER NOT NULL,
                jpeg     BLOB    NOT NULL
            );
            CREATE TABLE image_previews (
                image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
                width    INTEGER NOT NULL,
                height   INTEGER NOT NULL,
                jpeg     BLOB    NOT NULL
            );
            """),
        new(7, "users and API keys", """
            -- People who sign in. roles: a comma-separated subset of analyst, reviewer, supervisor, auditor, admin.
            -- password_hash: ASP.NET Core Identity's PasswordHasher (PBKDF2-HMAC-SHA512, per-user salt, its own version
            -- byte); null for a user who only has API keys. security_stamp changes when the password changes or the user
            -- is disabled, which invalidates every cookie issued before.
            CREATE TABLE users (
                id              INTEGER PRIMARY KEY AUTOINCREMENT,
                name            TEXT    NOT NULL UNIQUE COLLATE NOCASE,
                display_name    TEXT,
                roles           TEXT    NOT NULL,
                password_hash   TEXT,
                security_stamp  TEXT    NOT NULL,
                created_at      TEXT    NOT NULL,
                disabled_at     TEXT
            );
            -- Integration keys: only the SHA-256 of the key is kept (a key is 32 random bytes, so a fast hash is enough;
            -- a slow password hash protects low-entropy secrets). prefix: the first characters, shown in lists.
            CREATE TABLE api_keys (
                id            INTEGER PRIMARY KEY AUTOINCREMENT,
                user_id       INTEGER NOT NULL REFERENCES users(id),
                name          TEXT    NOT NULL,
                prefix        TEXT    NOT NULL,
                key_sha256    BLOB    NOT NULL UNIQUE CHECK (length(key_sha256) = 32),
                created_at    TEXT    NOT NULL,
                last_used_at  TEXT,
                revoked_at    TEXT
            );
            CREATE INDEX api_keys_user ON api_keys(user_id);
            """),
        new(8, "the tamper-evident audit log", """
            -- One row per audited action, leaf seq - 1 of an RFC 6962 Merkle tree. seq is assigned by the application as the
            -- tree size + 1 in the action's own write transaction (no AUTOINCREMENT: a rolled-back action leaves no gap).
            -- leaf_hash = SHA-256(0x00 || the event's canonical JSON); details hold scalar facts only, never biometric data.
            CREATE TABLE audit_events (
                seq        INTEGER PRIMARY KEY,
                at         TEXT    NOT NULL,
                actor      TEXT    NOT NULL,
                action     TEXT    NOT NULL,
                subject    TEXT    NOT NULL,
                details    TEXT    NOT NULL,
                leaf_hash  BLOB    NOT NULL
            );
            -- Signed tree heads: the Ed25519 signature covers the C2SP checkpoint text (origin, size, root, time).
            -- key_id: hex SHA-256 of the signing public key.
            CREATE TABLE audit_checkpoints (
                tree_size  INTEGER PRIMARY KEY,
                root_hash  BLOB    NOT NULL,
                at         TEXT    NOT NULL,
                signature  BLOB    NOT NULL,
                key_id     TEXT    NOT NULL
            );
            -- The right edge of the tree: the roots of its perfect subtrees, largest first (32 bytes each), updated with
            -- every append so that the next leaf and the current root cost O(log n) hashes. Derived state:
            -- `lineup audit verify` checks it against the events.
            CREATE TABLE audit_tree (
                id        INTEGER PRIMARY KEY CHECK (id = 1),
                size      INTEGER NOT NULL,
                frontier  BLOB    NOT NULL
            );
            INSERT INTO audit_tree(id, size, frontier) VALUES (1, 0, x'');

            -- Append-only by construction: a bug (or a careless retention job) cannot rewrite history through the
            -- application. Someone with the file can drop these; that is what verification and witnesses are for.
            CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
            BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
            CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
            BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
            CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
            BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
            CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
            BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
            """),
        new(9, "oversight: cases, intake, stored probes and candidates, reviews, retention, opt-outs, reports", """
            -- Cases: every search belongs to one. offence: one of the configured allowlist (checked when the case is
            -- opened and again at every search, since the list may shrink). authorised_until: the authorisation's expiry;
            -- a search after it is refused. legal_hold: nothing of the case expires while set.
            CREATE TABLE cases (
                id                 INTEGER PRIMARY KEY AUTOINCREMENT,
                number             TEXT    NOT NULL UNIQUE COLLATE NOCASE,
                offence            TEXT    NOT NULL,
                purpose            TEXT    NOT NULL,
                authorisation_ref  TEXT    NOT NULL,
                authorised_until   TEXT    NOT NULL,
                status             TEXT    NOT NULL CHECK (status IN ('open', 'closed')),
                legal_hold         INTEGER NOT NULL DEFAULT 0,
                created_at         TEXT    NOT NULL,
                created_by         TEXT    NOT NULL,
                closed_at          TEXT
            );
            -- Need-to-know: only assigned users search in, review for, or read a case.
            CREATE TABLE case_users (
                case_id      INTEGER NOT NULL REFERENCES cases(id),
                user_id      INTEGER NOT NULL REFERENCES users(id),
                assigned_at  TEXT    NOT NULL,
                assigned_by  TEXT    NOT NULL,
                PRIMARY KEY (case_id, user_id)
            ) WITHOUT ROWID;
            CREATE INDEX case_users_user ON case_users(user_id);

            -- Clearances: a user whose NDA or training has expired (or was never recorded) cannot search or confirm.
            ALTER TABLE users ADD COLUMN nda_until TEXT;
            ALTER TABLE users ADD COLUMN training_until TEXT;

            -- Searches gain their case, the probe's attestation, the intake refusal (outcome refused_intake), the gallery
            -- version and per-stage timings. Rebuilt because SQLite cannot widen a CHECK constraint.
            CREATE TABLE searches_v9 (
                id               INTEGER PRIMARY KEY AUTOINCREMENT,
                at               TEXT    NOT NULL,
                by_user          TEXT    NOT NULL,
                case_id          INTEGER REFERENCES cases(id),
                case_number      TEXT,
                probe_source     TEXT,
                refusal          TEXT,
                probe_sha256     TEXT    NOT NULL,
                faces_in_probe   INTEGER NOT NULL,
                face             INTEGER,
                quality          REAL,
                quality_floor    REAL    NOT NULL,
                quality_override TEXT,
                outcome          TEXT    NOT NULL CHECK (outcome IN ('candidates', 'no_candidate_above_threshold', 'refused_low_quality',
                                                                     'no_face', 'refused_intake', 'withheld_opt_out')),
                parameters       TEXT    NOT NULL,
                model_id         TEXT    NOT NULL,
                gallery_size     INTEGER NOT NULL,
                gallery_version  INTEGER NOT NULL DEFAULT 0,
                candidates       INTEGER NOT NULL,
                above_threshold  INTEGER NOT NULL,
                duration_ms      REAL    NOT NULL,
                timings          TEXT    NOT NULL DEFAULT ''
            );
            INSERT INTO searches_v9(id, at, by_user, probe_sha256, faces_in_probe, face, quality, quality_floor, quality_override, outcome,
                                    parameters, model_id, gallery_size, candidates, above_threshold, duration_ms)
            SELECT id, at, by_user, probe_sha256, faces_in_probe, face, quality, quality_floor, quality_override, outcome,
                   parameters, model_id, gallery_size, candidates, above_threshold, duration_ms FROM searches;
            DROP TABLE searches;
            ALTER TABLE searches_v9 RENAME TO searches;
            CREATE INDEX searches_at ON searches(at);
            CREATE INDEX searches_case ON searches(case_id, id);

            -- The probe photo as uploaded (for reviewers and the case file) until its time-to-live: the one place a
            -- probe's bytes are kept. Never an embedding.
            CREATE TABLE search_probes (
                search_id  INTEGER PRIMARY KEY REFERENCES searches(id) ON DELETE CASCADE,
                bytes      BLOB    NOT NULL
            );
            -- The candidate list a search returned. face_id and image_id carry no foreign key: an erased face leaves the
            -- record of having been returned (ids and scores are not biometric data).
            CREATE TABLE search_candidates (
                search_id       INTEGER NOT NULL REFERENCES searches(id) ON DELETE CASCADE,
                rank            INTEGER NOT NULL,
                face_id         INTEGER NOT NULL,
                image_id        INTEGER NOT NULL,
                similarity      REAL    NOT NULL,
                estimated_fmr   REAL,
                above_threshold INTEGER NOT NULL,
                PRIMARY KEY (search_id, rank)
            ) WITHOUT ROWID;

            -- Two-person confirmation: one decision per reviewer per candidate; kept when it is a rejection too.
            CREATE TABLE candidate_decisions (
                id         INTEGER PRIMARY KEY AUTOINCREMENT,
                search_id  INTEGER NOT NULL,
                rank       INTEGER NOT NULL,
                user_id    INTEGER NOT NULL REFERENCES users(id),
                decision   TEXT    NOT NULL CHECK (decision IN ('confirm', 'reject')),
                reason     TEXT,
                at         TEXT    NOT NULL,
                UNIQUE (search_id, rank, user_id),
                FOREIGN KEY (search_id, rank) REFERENCES search_candidates(search_id, rank) ON DELETE CASCADE
            );

            -- Bumped by every change of the gallery (an ingest batch, an erasure): searches record it, so a disclosure
            -- says which state of the gallery answered.
            CREATE TABLE gallery_state (
                id       INTEGER PRIMARY KEY CHECK (id = 1),
                version  INTEGER NOT NULL
            );
            INSERT INTO gallery_state(id, version) VALUES (1, (SELECT count(*) FROM images));

            -- Time-to-live in days per data class: probe_images, candidate_lists, audit_events. A missing row is the
            -- built-in default.
            CREATE TABLE retention_settings (
                data_class  TEXT    PRIMARY KEY CHECK (data_class IN ('probe_images', 'candidate_lists', 'audit_events')),
                ttl_days    INTEGER NOT NULL CHECK (ttl_days >= 1),
                set_at      TEXT    NOT NULL,
                set_by      TEXT    NOT NULL
            );

            -- Opt-out requests: the request's reference and the embeddings of its photos (the photos themselves are not
            -- kept). Matching gallery faces are erased; matching faces are refused at ingest and never returned.
            CREATE TABLE opt_outs (
                id           INTEGER PRIMARY KEY AUTOINCREMENT,
                reference    TEXT    NOT NULL,
                note         TEXT,
                recorded_at  TEXT    NOT NULL,
                recorded_by  TEXT    NOT NULL,
                faces_erased INTEGER NOT NULL DEFAULT 0
            );
            CREATE TABLE opt_out_embeddings (
                id          INTEGER PRIMARY KEY AUTOINCREMENT,
                opt_out_id  INTEGER NOT NULL REFERENCES opt_outs(id) ON DELETE CASCADE,
                embedding   BLOB    NOT NULL
            );

            -- Audit events older than their time-to-live are pruned: the row keeps seq, time and leaf hash (so the tree and
            -- every checkpoint still verify) and loses actor, action, subject and details. The only update allowed.
            ALTER TABLE audit_events ADD COLUMN pruned_at TEXT;
            DROP TRIGGER audit_events_no_update;
            CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
            WHEN NOT (OLD.pruned_at IS NULL AND NEW.pruned_at IS NOT NULL AND NEW.seq = OLD.seq AND NEW.at = OLD.at
                      AND NEW.leaf_hash = OLD.leaf_hash AND NEW.actor = '' AND NEW.action = '' AND NEW.subject = '' AND NEW.details = '')
            BEGIN SELECT RAISE(ABORT, 'audit events are append-only (pruning is the only change)'); END;
            """),
        new(10, "identities and the face graph", """
            -- Identities: clusters of gallery faces taken for one person. AUTOINCREMENT: an id is never reused, because
            -- analysts, corrections and exported graphs name identities by id. name: what an analyst typed (or NULL).
            CREATE TABLE identities (
                id          INTEGER PRIMARY KEY AUTOINCREMENT,
                name        TEXT,
                created_at  TEXT    NOT NULL,
                updated_at  TEXT    NOT NULL
            );
            -- The partition: each clustered face's identity; locked: an analyst fixed the face there (re-clustering keeps it).
            CREATE TABLE face_identities (
                face_id      INTEGER PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
                identity_id  INTEGER NOT NULL REFERENCES identities(id),
                locked       INTEGER NOT NULL DEFAULT 0 CHECK (locked IN (0, 1))
            );
            CREATE INDEX face_identities_identity ON face_identities(identity_id);

            -- The directed k-nearest-neighbour lists the clustering reads (derived: a full re-clustering rewrites them).
            -- No foreign keys: the writer keeps only ids of existing faces, and the trigger below removes an erased face's
            -- rows. Checking two keys per row cost 2M rows (100,000 faces x 20) 34 s instead of 19 s, the faces' rows
            -- being 1 KB each. The neighbour index serves that trigger: an erased face leaves every list it appears in.
            CREATE TABLE face_neighbours (
                face_id      INTEGER NOT NULL,
                rank         INTEGER NOT NULL,
                neighbour_id INTEGER NOT NULL,
                similarity   REAL    NOT NULL,
                PRIMARY KEY (face_id, rank)
            ) WITHOUT ROWID;
            CREATE INDEX face_neighbours_neighbour ON face_neighbours(neighbour_id);

            -- Analyst corrections, oldest first: not derived, kept through every re-clustering. Ids carry no foreign key:
            -- erasing a face or removing an identity does not rewrite the record. face_ids: a JSON array of face ids.
            CREATE TABLE identity_corrections (
                id                 INTEGER PRIMARY KEY AUTOINCREMENT,
                kind               TEXT    NOT NULL CHECK (kind IN ('merge', 'split', 'move', 'name')),
                identity_id        INTEGER NOT NULL,
                other_identity_id  INTEGER,
                face_ids           TEXT    NOT NULL,
                name               TEXT,
                reason             TEXT,
                by                 TEXT    NOT NULL,
                at                 TEXT    NOT NULL
            );

            -- What the last clustering recorded. parameters: ClusteringParameters as JSON. clustered_through: every face
            -- with an id up to it has a neighbour list. version: bumped by every clustering and correction.
            CREATE TABLE clustering_state (
                id                 INTEGER PRIMARY KEY CHECK (id = 1),
                model_id           TEXT    NOT NULL,
                parameters         TEXT    NOT NULL,
                clustered_through  INTEGER NOT NULL,
                version            INTEGER NOT NULL,
                clustered_at       TEXT    NOT NULL
            );

            -- A deleted face (erasure, opt-out) leaves the graph and the partition whatever the connection's foreign_keys
            -- setting says, as erasure deletes explicitly rather than trusting ON DELETE CASCADE.
            CREATE TRIGGER faces_leave_network AFTER DELETE ON faces
            BEGIN
                DELETE FROM face_neighbours WHERE face_id = OLD.id;
                DELETE FROM face_neighbours WHERE neighbour_id = OLD.id;
                DELETE FROM face_identities WHERE face_id = OLD.id;
            END;
            -- An identity whose last face was erased goes with it (with the name an analyst gave it); it fires for the
            -- cascade as well.
            CREATE TRIGGER face_identities_drop_empty AFTER DELETE ON face_identities
            WHEN NOT EXISTS (SELECT 1 FROM face_identities WHERE identity_id = OLD.identity_id)
            BEGIN
                DELETE FROM identities WHERE id = OLD.identity_id;
            END;
            """),
        new(11, "embeddings as int8 with a scale (EmbeddingCodec: 517 bytes a face instead of 1,024)", """
            -- Every face's float16 embedding re-encoded (lineup_embedding_from_float16() is registered on the migrating
            -- connection). The rows shrink; the pages they free are reused by later writes (VACUUM returns them to the
            -- file system).
            UPDATE faces SET embedding = lineup_embedding_from_float16(id, embedding);
            """),
        new(12, "embedding bases: embeddings stored as 10-bit coefficients of the model's principal directions (EmbeddingCodec format 2)", """
            -- One basis per model, fitted once (EmbeddingBasis) and never changed: format-2 embeddings name it by id
            -- (two bytes, hence the bound). directions: components x dimensions float32 little-endian, orthonormal; scales:
            -- each direction's coefficient divisor (EmbeddingBasis.Scales). Rows of format 1 stay valid.
            CREATE TABLE embedding_bases (
                id             INTEGER PRIMARY KEY AUTOINCREMENT CHECK (id BETWEEN 1 AND 65535),
                model_id       TEXT    NOT NULL UNIQUE,
                dimensions     INTEGER NOT NULL CHECK (dimensions > 0),
                components     INTEGER NOT NULL CHECK (components > 0 AND components < dimensions),
                directions     BLOB    NOT NULL CHECK (length(directions) = 4 * components * dimensions),
                scales         BLOB    NOT NULL CHECK (length(scales) = 4 * components),
                sample_faces   INTEGER NOT NULL,
                dropped_energy REAL    NOT NULL,
                fitted_at      TEXT    NOT NULL
            );
            """),
    ];
}
