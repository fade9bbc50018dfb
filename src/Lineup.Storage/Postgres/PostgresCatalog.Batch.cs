using System.Buffers.Binary;
using Lineup.Core.Catalog;
using Npgsql;
using NpgsqlTypes;

namespace Lineup.Storage.Postgres;

public sealed partial class PostgresCatalog
{
    /// <summary>One item of a write: an image to store, a known image seen again, or neither (a refused or failed item).</summary>
    private readonly record struct BatchItem(NewImage? Image, SeenAgain? Seen);

    /// <summary>The first key of the two-key advisory locks on image bytes ("Lnup").</summary>
    private const int ImageBytesLockSpace = 0x4C6E7570;

    /// <summary>
    /// One write transaction's images with their faces, pictures and sightings, shared by <see cref="AddImagesAsync"/>
    /// and <see cref="CommitAsync"/> so the two cannot store an image differently. Three round trips whatever the
    /// batch size, where the SQLite writer runs one statement per row:
    /// <list type="number">
    /// <item><see cref="PrepareAsync"/>: lock every SHA-256 of the batch (advisory locks in ascending key order, so two
    /// writers of the same bytes queue instead of racing on the unique index, and never deadlock), then look up the
    /// bytes already stored, the collections and the images referred to, in one <see cref="NpgsqlBatch"/>;</item>
    /// <item>take ids for the new images and faces from their sequences (so faces, thumbnails and sightings can name
    /// them without reading anything back);</item>
    /// <item><see cref="FlushAsync"/>: every insert as one multi-row <c>unnest</c> statement per table, the caller's own
    /// statements, and the gallery version bump last, in one <see cref="NpgsqlBatch"/>.</item>
    /// </list>
    /// </summary>
    private sealed class BatchWriter(PostgresCatalog catalog, NpgsqlConnection connection, NpgsqlTransaction tx, string now, long? runId)
    {
        private readonly List<NewImageRow> _newImages = [];
        private readonly List<SightingRow> _sightings = [];
        private int _newFaces;

        /// <summary>Statements the caller adds to the final round trip (before the gallery bump).</summary>
        public List<NpgsqlBatchCommand> Tail { get; } = [];

        /// <summary>
        /// Checks the batch against the catalog and assigns ids: an image whose bytes are stored (or appear earlier in
        /// the batch) is already present and only gains sightings; a seen-again item only gains sightings.
        /// Returns one result per item, null for an item with neither image nor sighting.
        /// </summary>
        public async Task<StoredImage?[]> PrepareAsync(IReadOnlyList<BatchItem> items, int dimensions, CancellationToken ct)
        {
            await catalog.CheckEmbeddingDimensionsAsync(connection, tx, dimensions, ct).ConfigureAwait(false);

            var shas = new HashSet<byte[]>(ShaComparer.Instance);
            var collections = new HashSet<long>();
            var referenced = new HashSet<long>();
            foreach (var item in items)
            {
                if (item.Image is { } image)
                {
                    shas.Add(image.Sha256);
                    collections.Add(image.CollectionId);
                    if (image.NearDuplicateOf is { } original)
                    {
                        referenced.Add(original);
                    }
                }
                else if (item.Seen is { } seen)
                {
                    collections.Add(seen.CollectionId);
                    referenced.Add(seen.ImageId);
                }
            }

            var stored = new Dictionary<byte[], long>(ShaComparer.Instance);
            var knownCollections = new HashSet<long>();
            var knownImages = new HashSet<long>();
            if (collections.Count > 0)
            {
                await LookUpAsync(shas, collections, referenced, stored, knownCollections, knownImages, ct).ConfigureAwait(false);
            }

            var results = new StoredImage?[items.Count];
            var pending = new Dictionary<byte[], int>(ShaComparer.Instance);
            for (var i = 0; i < items.Count; i++)
            {
                var (image, seen) = items[i];
                if (image is not null)
                {
                    RequireCollection(knownCollections, image.CollectionId, i);
                    if (stored.TryGetValue(image.Sha256, out var existingId))
                    {
                        results[i] = new StoredImage(existingId, AlreadyPresent: true, []);
                        AddSightings(existingId, null, image.CollectionId, image.Provenance);
                    }
                    else if (pending.TryGetValue(image.Sha256, out var first))
                    {
                        // The same bytes twice in one batch: the second is a duplicate of the first (its id comes later).
                        _newImages[first].Duplicates.Add(i);
                        AddSightings(0, first, image.CollectionId, image.Provenance);
                    }
                    else
                    {
                        if (image.NearDuplicateOf is { } original && !knownImages.Contains(original))
                        {
                            throw new CatalogException($"Batch item {i}: near-duplicate of image {original}, which does not exist.");
                        }

                        pending.Add(image.Sha256, _newImages.Count);
                        _newImages.Add(new NewImageRow(i, image));
                        _newFaces += image.Faces.Count;
                        AddSightings(0, _newImages.Count - 1, image.CollectionId, image.Provenance);
                    }
                }
                else if (seen is not null)
                {
                    RequireCollection(knownCollections, seen.CollectionId, i);
                    if (!knownImages.Contains(seen.ImageId))
                    {
                        throw new CatalogException($"Batch item {i}: image {seen.ImageId} does not exist.");
                    }

                    results[i] = new StoredImage(seen.ImageId, AlreadyPresent: true, []);
                    AddSightings(seen.ImageId, null, seen.CollectionId, seen.Provenance);
                }
            }

            if (_newImages.Count > 0)
            {
                await AssignIdsAsync(ct).ConfigureAwait(false);
                foreach (var row in _newImages)
                {
                    results[row.Item] = new StoredImage(row.Id, AlreadyPresent: false, row.FaceIds);
                    foreach (var duplicate in row.Duplicates)
                    {
                        results[duplicate] = new StoredImage(row.Id, AlreadyPresent: true, []);
                    }
                }
            }

            return results;
        }

        /// <summary>Writes everything <see cref="PrepareAsync"/> planned, then <see cref="Tail"/>, then the gallery bump.</summary>
        public async Task FlushAsync(CancellationToken ct)
        {
            await using var batch = new NpgsqlBatch(connection, tx);
            if (_newImages.Count > 0)
            {
                batch.BatchCommands.Add(InsertImages());
                if (_newImages.Any(r => r.Image.Preview is not null))
                {
                    batch.BatchCommands.Add(InsertPreviews());
                }

                if (_newFaces > 0)
                {
                    batch.BatchCommands.Add(InsertFaces());
                    if (_newImages.Any(r => r.Image.Faces.Any(f => f.Thumbnail is not null)))
                    {
                        batch.BatchCommands.Add(InsertThumbnails());
                    }
                }
            }

            if (_sightings.Count > 0)
            {
                batch.BatchCommands.Add(InsertSightings());
            }

            foreach (var command in Tail)
            {
                batch.BatchCommands.Add(command);
            }

            batch.BatchCommands.Add(BumpGalleryVersionCommand());
            try
            {
                await batch.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
            catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.ForeignKeyViolation or PostgresErrorCodes.UniqueViolation)
            {
                // The look-ups of PrepareAsync ran in this transaction; only a concurrent erasure can get here.
                throw new CatalogException($"The batch refers to a row another writer removed or added meanwhile ({e.MessageText}); nothing was stored.", e);
            }
        }

        private async Task LookUpAsync(
            HashSet<byte[]> shas, HashSet<long> collections, HashSet<long> referenced,
            Dictionary<byte[], long> stored, HashSet<long> knownCollections, HashSet<long> knownImages, CancellationToken ct)
        {
            var shaArray = shas.ToArray();

            // Keys in ascending order: every writer takes them in the same order, so none waits in a cycle. The
            // two-key form keeps them apart from the single-key locks (LockAsync); two digests sharing their first
            // four bytes only make two writers queue.
            var keys = shaArray.Select(s => BinaryPrimitives.ReadInt32BigEndian(s)).Distinct().Order().ToArray();
            await using var lookUp = new NpgsqlBatch(connection, tx);
            if (keys.Length > 0)
            {
                lookUp.BatchCommands.Add(Command(
                    "SELECT count(pg_advisory_xact_lock(@space, k)) FROM unnest(@keys) AS k", ("space", ImageBytesLockSpace), ("keys", keys)));
            }

            // Each statement of a batch takes its own snapshot: these see what a writer that held a lock committed.
            lookUp.BatchCommands.Add(Command("SELECT sha256, id FROM images WHERE sha256 = ANY(@shas)", ("shas", shaArray)));
            lookUp.BatchCommands.Add(Command("SELECT id FROM collections WHERE id = ANY(@ids)", ("ids", collections.ToArray())));
            lookUp.BatchCommands.Add(Command("SELECT id FROM images WHERE id = ANY(@ids)", ("ids", referenced.ToArray())));
            await using var reader = await lookUp.ExecuteReaderAsync(ct).ConfigureAwait(false);
            if (keys.Length > 0)
            {
                await reader.NextResultAsync(ct).ConfigureAwait(false);
            }

            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                stored[reader.GetFieldValue<byte[]>(0)] = reader.GetInt64(1);
            }

            await reader.NextResultAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                knownCollections.Add(reader.GetInt64(0));
            }

            await reader.NextResultAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                knownImages.Add(reader.GetInt64(0));
            }
        }

        private async Task AssignIdsAsync(CancellationToken ct)
        {
            await using var allocate = new NpgsqlBatch(connection, tx);
            allocate.BatchCommands.Add(Command(
                "SELECT nextval(pg_get_serial_sequence('images', 'id')) FROM generate_series(1, @n)", ("n", _newImages.Count)));
            if (_newFaces > 0)
            {
                allocate.BatchCommands.Add(Command(
                    "SELECT nextval(pg_get_serial_sequence('faces', 'id')) FROM generate_series(1, @n)", ("n", _newFaces)));
            }

            // nextval in one statement of one session ascends, so ids follow the batch order as SQLite's do.
            await using var reader = await allocate.ExecuteReaderAsync(ct).ConfigureAwait(false);
            foreach (var row in _newImages)
            {
                await reader.ReadAsync(ct).ConfigureAwait(false);
                row.Id = reader.GetInt64(0);
            }

            if (_newFaces > 0)
            {
                await reader.NextResultAsync(ct).ConfigureAwait(false);
                foreach (var row in _newImages)
                {
                    for (var f = 0; f < row.FaceIds.Length; f++)
                    {
                        await reader.ReadAsync(ct).ConfigureAwait(false);
                        row.FaceIds[f] = reader.GetInt64(0);
                    }
                }
            }
        }

        /// <summary>One sighting per page known to embed the image (one without a page when none is known).</summary>
        private void AddSightings(long imageId, int? newImage, long collectionId, Provenance p)
        {
            IEnumerable<string?> pages = p.PageUrl is null ? [null] : [p.PageUrl, .. p.OtherPageUrls ?? []];
            foreach (var page in pages.Distinct(StringComparer.Ordinal))
            {
                _sightings.Add(new SightingRow(imageId, newImage, collectionId, p, page));
            }
        }

        private NpgsqlBatchCommand InsertImages()
        {
            var n = _newImages.Count;
            var ids = new long[n];
            var collections = new long[n];
            var shas = new byte[n][];
            var lengths = new long[n];
            var formats = new string[n];
            var widths = new int[n];
            var heights = new int[n];
            var sources = new string?[n];
            var pages = new string?[n];
            var captured = new string?[n];
            var fetched = new string?[n];
            var originals = new string?[n];
            var hashes = new long?[n];
            var near = new long?[n];
            for (var i = 0; i < n; i++)
            {
                var row = _newImages[i];
                var image = row.Image;
                var p = image.Provenance;
                ids[i] = row.Id;
                collections[i] = image.CollectionId;
                shas[i] = image.Sha256;
                lengths[i] = image.ByteLength;
                formats[i] = image.Format;
                widths[i] = image.Width;
                heights[i] = image.Height;
                sources[i] = p.SourceUrl;
                pages[i] = p.PageUrl;
                captured[i] = Time(p.CapturedAt);
                fetched[i] = Time(p.FetchedAt);
                originals[i] = p.OriginalPath;
                hashes[i] = image.PerceptualHash is { } hash ? unchecked((long)hash) : null;
                near[i] = image.NearDuplicateOf;
            }

            return Command("""
                INSERT INTO images(id, collection_id, sha256, byte_length, format, width, height, source_url, page_url,
                                   captured_at, fetched_at, original_path, added_at, phash, near_duplicate_of)
                SELECT u.id, u.collection_id, u.sha256, u.byte_length, u.format, u.width, u.height, u.source_url, u.page_url,
                       u.captured_at, u.fetched_at, u.original_path, @added, u.phash, u.near_duplicate_of
                FROM unnest(@ids, @collections, @shas, @lengths, @formats, @widths, @heights, @sources, @pages,
                            @captured, @fetched, @originals, @hashes, @near)
                     AS u(id, collection_id, sha256, byte_length, format, width, height, source_url, page_url,
                          captured_at, fetched_at, original_path, phash, near_duplicate_of)
                """,
                ("ids", ids), ("collections", collections), ("shas", shas), ("lengths", lengths), ("formats", formats),
                ("widths", widths), ("heights", heights), ("sources", sources), ("pages", pages), ("captured", captured),
                ("fetched", fetched), ("originals", originals), ("hashes", hashes), ("near", near), ("added", now));
        }

        private NpgsqlBatchCommand InsertPreviews()
        {
            var rows = _newImages.Where(r => r.Image.Preview is not null).ToList();
            return InsertPictures("image_previews", "image_id", rows.Select(r => (r.Id, r.Image.Preview!)).ToList());
        }

        private NpgsqlBatchCommand InsertThumbnails()
        {
            var pictures = new List<(long, Picture)>();
            foreach (var row in _newImages)
            {
                for (var f = 0; f < row.FaceIds.Length; f++)
                {
                    if (row.Image.Faces[f].Thumbnail is { } thumbnail)
                    {
                        pictures.Add((row.FaceIds[f], thumbnail));
                    }
                }
            }

            return InsertPictures("face_thumbnails", "face_id", pictures);
        }

        private static NpgsqlBatchCommand InsertPictures(string table, string key, List<(long Id, Picture Picture)> pictures)
        {
            var ids = new long[pictures.Count];
            var widths = new int[pictures.Count];
            var heights = new int[pictures.Count];
            var jpegs = new byte[pictures.Count][];
            for (var i = 0; i < pictures.Count; i++)
            {
                (ids[i], var picture) = pictures[i];
                (widths[i], heights[i], jpegs[i]) = (picture.Width, picture.Height, picture.Jpeg);
            }

            return Command(
                $"INSERT INTO {table}({key}, width, height, jpeg) SELECT * FROM unnest(@ids, @widths, @heights, @jpegs)",
                ("ids", ids), ("widths", widths), ("heights", heights), ("jpegs", jpegs));
        }

        /// <summary>
        /// All faces of the batch in one <c>unnest</c> INSERT. Binary COPY was measured against it with the same 128
        /// faces per transaction, interleaved: unnest 63 ms, COPY 79 ms (this machine under load); COPY would also cost
        /// a round trip of its own outside the batch.
        /// </summary>
        private NpgsqlBatchCommand InsertFaces()
        {
            var n = _newFaces;
            var ids = new long[n];
            var images = new long[n];
            var embeddings = new byte[n][];

            // Box, five landmarks and the detector score: 15 real[] columns of one unnest.
            var geometry = new float[15][];
            for (var c = 0; c < geometry.Length; c++)
            {
                geometry[c] = new float[n];
            }

            var quality = new float?[9][];
            for (var c = 0; c < quality.Length; c++)
            {
                quality[c] = new float?[n];
            }

            var basis = catalog._embeddings.Basis;
            var k = 0;
            foreach (var row in _newImages)
            {
                for (var f = 0; f < row.FaceIds.Length; f++, k++)
                {
                    var face = row.Image.Faces[f];
                    ids[k] = row.FaceIds[f];
                    images[k] = row.Id;
                    embeddings[k] = StoredEmbeddings.Encode(face.Embedding, basis);
                    var (box, lm) = (face.Box, face.Landmarks);
                    Span<float> values =
                    [
                        box.X1, box.Y1, box.X2, box.Y2, lm.LeftEye.X, lm.LeftEye.Y, lm.RightEye.X, lm.RightEye.Y,
                        lm.Nose.X, lm.Nose.Y, lm.MouthLeft.X, lm.MouthLeft.Y, lm.MouthRight.X, lm.MouthRight.Y, face.DetectorScore,
                    ];
                    for (var c = 0; c < geometry.Length; c++)
                    {
                        geometry[c][k] = values[c];
                    }

                    var q = face.Quality;
                    quality[0][k] = Quality(q?.Score);
                    quality[1][k] = Quality(q?.InterEyePixels);
                    quality[2][k] = Quality(q?.Sharpness);
                    quality[3][k] = Quality(q?.Brightness);
                    quality[4][k] = Quality(q?.Contrast);
                    quality[5][k] = Quality(q?.Yaw);
                    quality[6][k] = Quality(q?.Pitch);
                    quality[7][k] = Quality(q?.Roll);
                    quality[8][k] = Quality(q?.LandmarkFit);
                }
            }

            var command = Command("""
                INSERT INTO faces(id, image_id, x1, y1, x2, y2, left_eye_x, left_eye_y, right_eye_x, right_eye_y, nose_x, nose_y,
                                  mouth_left_x, mouth_left_y, mouth_right_x, mouth_right_y, detector_score, embedding, model_id,
                                  quality_score, quality_inter_eye, quality_sharpness, quality_brightness, quality_contrast,
                                  quality_yaw, quality_pitch, quality_roll, quality_landmark_fit)
                SELECT u.id, u.image_id, u.x1, u.y1, u.x2, u.y2, u.lex, u.ley, u.rex, u.rey, u.nx, u.ny, u.mlx, u.mly, u.mrx, u.mry,
                       u.score, u.embedding, @model, u.q0, u.q1, u.q2, u.q3, u.q4, u.q5, u.q6, u.q7, u.q8
                FROM unnest(@ids, @images, @g0, @g1, @g2, @g3, @g4, @g5, @g6, @g7, @g8, @g9, @g10, @g11, @g12, @g13, @g14,
                            @embeddings, @q0, @q1, @q2, @q3, @q4, @q5, @q6, @q7, @q8)
                     AS u(id, image_id, x1, y1, x2, y2, lex, ley, rex, rey, nx, ny, mlx, mly, mrx, mry, score,
                          embedding, q0, q1, q2, q3, q4, q5, q6, q7, q8)
                """,
                ("ids", ids), ("images", images), ("embeddings", embeddings), ("model", catalog.ModelId));
            for (var c = 0; c < geometry.Length; c++)
            {
                command.Parameters.AddWithValue($"g{c}", geometry[c]);
            }

            for (var c = 0; c < quality.Length; c++)
            {
                command.Parameters.AddWithValue($"q{c}", quality[c]);
            }

            return command;
        }

        private NpgsqlBatchCommand InsertSightings()
        {
            var n = _sightings.Count;
            var images = new long[n];
            var collections = new long[n];
            var sources = new string?[n];
            var pages = new string?[n];
            var captured = new string?[n];
            var fetched = new string?[n];
            var originals = new string?[n];
            var records = new string?[n];
            var licences = new string?[n];
            var sourceHosts = new string?[n];
            var pageHosts = new string?[n];
            for (var i = 0; i < n; i++)
            {
                var s = _sightings[i];
                var p = s.Provenance;
                images[i] = s.NewImage is { } index ? _newImages[index].Id : s.ImageId;
                collections[i] = s.CollectionId;
                sources[i] = p.SourceUrl;
                pages[i] = s.Page;
                captured[i] = Time(p.CapturedAt);
                fetched[i] = Time(p.FetchedAt);
                originals[i] = p.OriginalPath;
                records[i] = p.RecordId;
                licences[i] = p.Licence;
                sourceHosts[i] = SqliteCatalog.ReversedHost(p.SourceUrl);
                pageHosts[i] = SqliteCatalog.ReversedHost(s.Page);
            }

            // The same place seen twice (a re-run, a resumed run) adds nothing: sightings_place is unique. Rows go in
            // batch order, so sighting ids follow it as in SQLite.
            var command = Command("""
                INSERT INTO sightings(image_id, collection_id, run_id, source_url, page_url, captured_at, fetched_at,
                                      original_path, record_id, licence, seen_at, source_host_reversed, page_host_reversed)
                SELECT u.image_id, u.collection_id, @run, u.source_url, u.page_url, u.captured_at, u.fetched_at,
                       u.original_path, u.record_id, u.licence, @seen, u.source_host, u.page_host
                FROM unnest(@images, @collections, @sources, @pages, @captured, @fetched, @originals, @records, @licences,
                            @source_hosts, @page_hosts) WITH ORDINALITY
                     AS u(image_id, collection_id, source_url, page_url, captured_at, fetched_at, original_path, record_id,
                          licence, source_host, page_host, ord)
                ORDER BY u.ord
                ON CONFLICT DO NOTHING
                """,
                ("images", images), ("collections", collections), ("sources", sources), ("pages", pages), ("captured", captured),
                ("fetched", fetched), ("originals", originals), ("records", records), ("licences", licences),
                ("source_hosts", sourceHosts), ("page_hosts", pageHosts), ("seen", now));
            command.Parameters.Add(new NpgsqlParameter("run", NpgsqlDbType.Bigint) { Value = (object?)runId ?? DBNull.Value });
            return command;
        }

        private static void RequireCollection(HashSet<long> known, long collectionId, int item)
        {
            if (!known.Contains(collectionId))
            {
                throw new CatalogException($"Batch item {item}: collection {collectionId} does not exist.");
            }
        }

        /// <summary>A quality column's value: NULL when the face has no quality (or a component is not a number).</summary>
        private static float? Quality(float? value) => value is { } v && float.IsFinite(v) ? v : null;

        private static string? Time(DateTimeOffset? time) => time is { } t ? SqliteCatalog.FormatTime(t) : null;

        private static NpgsqlBatchCommand Command(string sql, params ReadOnlySpan<(string Name, object Value)> parameters)
        {
            var command = new NpgsqlBatchCommand(sql);
            foreach (var (name, value) in parameters)
            {
                command.Parameters.AddWithValue(name, value);
            }

            return command;
        }

        /// <summary>An image not yet stored, its id and face ids assigned by <see cref="AssignIdsAsync"/>.</summary>
        private sealed class NewImageRow(int item, NewImage image)
        {
            public int Item { get; } = item;

            public NewImage Image { get; } = image;

            public long Id { get; set; }

            public long[] FaceIds { get; } = new long[image.Faces.Count];

            /// <summary>Later items of the batch with the same bytes.</summary>
            public List<int> Duplicates { get; } = [];
        }

        /// <summary>A sighting of a stored image (<see cref="ImageId"/>) or of a new one (<see cref="NewImage"/>, an index).</summary>
        private readonly record struct SightingRow(long ImageId, int? NewImage, long CollectionId, Provenance Provenance, string? Page);
    }

    /// <summary>SHA-256 digests compared by content.</summary>
    private sealed class ShaComparer : IEqualityComparer<byte[]>
    {
        public static readonly ShaComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj) => BinaryPrimitives.ReadInt32LittleEndian(obj);
    }
}
