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
    ];
}
