using Lineup.Core.Catalog;
using Lineup.Core.Numerics;
using Microsoft.Data.Sqlite;

namespace Lineup.Storage;

public sealed partial class SqliteCatalog
{
    /// <summary>
    /// The prepared statements of one write transaction: images with their faces, pictures and sightings. Shared by
    /// <see cref="AddImagesAsync"/> and <see cref="CommitAsync"/> so the two cannot store an image differently.
    /// </summary>
    private sealed class BatchWriter : IDisposable
    {
        private readonly SqliteCommand _findImage;
        private readonly SqliteParameter _findSha;
        private readonly SqliteCommand _findCollection;
        private readonly SqliteParameter _collectionId;
        private readonly SqliteCommand _insertImage;
        private readonly SqliteCommand _insertFace;
        private readonly SqliteCommand _insertSighting;
        private readonly PictureInsert _insertPreview;
        private readonly PictureInsert _insertThumbnail;
        private readonly HashSet<long> _knownCollections = [];
        private readonly string _modelId;
        private readonly EmbeddingBasis? _basis;
        private readonly string _now;

        /// <param name="basis">The model's embedding basis, or null: each face's embedding is stored in it when it lies in
        /// it, and replaced in place with the vector as stored.</param>
        public BatchWriter(SqliteConnection connection, SqliteTransaction tx, string modelId, EmbeddingBasis? basis, string now)
        {
            _modelId = modelId;
            _basis = basis;
            _now = now;
            _findImage = Command(connection, tx, "SELECT id FROM images WHERE sha256 = $sha");
            _findSha = _findImage.Parameters.Add("$sha", SqliteType.Blob);
            _findCollection = Command(connection, tx, "SELECT 1 FROM collections WHERE id = $id");
            _collectionId = _findCollection.Parameters.Add("$id", SqliteType.Integer);
            _insertImage = Command(connection, tx, """
                INSERT INTO images(collection_id, sha256, byte_length, format, width, height, source_url, page_url,
                                   captured_at, fetched_at, original_path, added_at, phash, near_duplicate_of)
                VALUES ($collection, $sha, $bytes, $format, $width, $height, $source, $page, $captured, $fetched, $original,
                        $added, $phash, $near)
                RETURNING id
                """);
            _insertFace = Command(connection, tx, """
                INSERT INTO faces(image_id, x1, y1, x2, y2, left_eye_x, left_eye_y, right_eye_x, right_eye_y, nose_x, nose_y,
                                  mouth_left_x, mouth_left_y, mouth_right_x, mouth_right_y, detector_score, embedding, model_id,
                                  quality_score, quality_inter_eye, quality_sharpness, quality_brightness, quality_contrast,
                                  quality_yaw, quality_pitch, quality_roll, quality_landmark_fit)
                VALUES ($image, $x1, $y1, $x2, $y2, $lex, $ley, $rex, $rey, $nx, $ny, $mlx, $mly, $mrx, $mry, $score, $embedding, $model,
                        $q_score, $q_eye, $q_sharp, $q_bright, $q_contrast, $q_yaw, $q_pitch, $q_roll, $q_fit)
                RETURNING id
                """);

            // The same place seen twice (a re-run, a resumed run) adds nothing: sightings_place is unique.
            _insertSighting = Command(connection, tx, """
                INSERT OR IGNORE INTO sightings(image_id, collection_id, run_id, source_url, page_url, captured_at, fetched_at,
                                                original_path, record_id, licence, seen_at, source_host_reversed, page_host_reversed)
                VALUES ($image, $collection, $run, $source, $page, $captured, $fetched, $original, $record, $licence, $seen,
                        $source_host, $page_host)
                """);
            _insertPreview = new PictureInsert(Command(connection, tx, "INSERT INTO image_previews(image_id, width, height, jpeg) VALUES ($id, $width, $height, $jpeg)"));
            _insertThumbnail = new PictureInsert(Command(connection, tx, "INSERT INTO face_thumbnails(face_id, width, height, jpeg) VALUES ($id, $width, $height, $jpeg)"));
        }

        /// <summary>
        /// Stores one image with its preview, its faces with their thumbnails, and its sightings; bytes already present
        /// only gain sightings (their pictures are those of the first copy).
        /// </summary>
        public async Task<StoredImage> WriteImageAsync(NewImage image, long? runId, int item, CancellationToken ct)
        {
            _findSha.Value = image.Sha256;
            if (await _findImage.ExecuteScalarAsync(ct).ConfigureAwait(false) is long existingId)
            {
                await AddSightingsAsync(existingId, image.CollectionId, runId, image.Provenance, ct).ConfigureAwait(false);
                return new StoredImage(existingId, AlreadyPresent: true, []);
            }

            await EnsureCollectionAsync(image.CollectionId, item, ct).ConfigureAwait(false);
            var p = image.Provenance;
            var insert = _insertImage;
            insert.Parameters.Clear();
            insert.Parameters.AddWithValue("$collection", image.CollectionId);
            insert.Parameters.AddWithValue("$sha", image.Sha256);
            insert.Parameters.AddWithValue("$bytes", image.ByteLength);
            insert.Parameters.AddWithValue("$format", image.Format);
            insert.Parameters.AddWithValue("$width", image.Width);
            insert.Parameters.AddWithValue("$height", image.Height);
            insert.Parameters.AddWithValue("$source", (object?)p.SourceUrl ?? DBNull.Value);
            insert.Parameters.AddWithValue("$page", (object?)p.PageUrl ?? DBNull.Value);
            insert.Parameters.AddWithValue("$captured", p.CapturedAt is { } captured ? FormatTime(captured) : DBNull.Value);
            insert.Parameters.AddWithValue("$fetched", p.FetchedAt is { } fetched ? FormatTime(fetched) : DBNull.Value);
            insert.Parameters.AddWithValue("$original", (object?)p.OriginalPath ?? DBNull.Value);
            insert.Parameters.AddWithValue("$added", _now);
            insert.Parameters.AddWithValue("$phash", image.PerceptualHash is { } hash ? unchecked((long)hash) : DBNull.Value);
            insert.Parameters.AddWithValue("$near", (object?)image.NearDuplicateOf ?? DBNull.Value);
            long imageId;
            try
            {
                imageId = (long)(await insert.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
            }
            catch (SqliteException e) when (e.SqliteErrorCode == 19 && image.NearDuplicateOf is { } original)
            {
                throw new CatalogException($"Batch item {item}: near-duplicate of image {original}, which does not exist.", e);
            }

            if (image.Preview is { } preview)
            {
                await _insertPreview.ExecuteAsync(imageId, preview, ct).ConfigureAwait(false);
            }

            var faceIds = new long[image.Faces.Count];
            for (var f = 0; f < faceIds.Length; f++)
            {
                faceIds[f] = await InsertFaceAsync(imageId, image.Faces[f], ct).ConfigureAwait(false);
                if (image.Faces[f].Thumbnail is { } thumbnail)
                {
                    await _insertThumbnail.ExecuteAsync(faceIds[f], thumbnail, ct).ConfigureAwait(false);
                }
            }

            await AddSightingsAsync(imageId, image.CollectionId, runId, p, ct).ConfigureAwait(false);
            return new StoredImage(imageId, AlreadyPresent: false, faceIds);
        }

        /// <summary>One sighting per page known to embed the image (one without a page when none is known).</summary>
        public async Task AddSightingsAsync(long imageId, long collectionId, long? runId, Provenance p, CancellationToken ct)
        {
            IEnumerable<string?> pages = p.PageUrl is null ? [null] : [p.PageUrl, .. p.OtherPageUrls ?? []];
            var s = _insertSighting;
            foreach (var page in pages.Distinct(StringComparer.Ordinal))
            {
                s.Parameters.Clear();
                s.Parameters.AddWithValue("$image", imageId);
                s.Parameters.AddWithValue("$collection", collectionId);
                s.Parameters.AddWithValue("$run", (object?)runId ?? DBNull.Value);
                s.Parameters.AddWithValue("$source", (object?)p.SourceUrl ?? DBNull.Value);
                s.Parameters.AddWithValue("$page", (object?)page ?? DBNull.Value);
                s.Parameters.AddWithValue("$captured", p.CapturedAt is { } captured ? FormatTime(captured) : DBNull.Value);
                s.Parameters.AddWithValue("$fetched", p.FetchedAt is { } fetched ? FormatTime(fetched) : DBNull.Value);
                s.Parameters.AddWithValue("$original", (object?)p.OriginalPath ?? DBNull.Value);
                s.Parameters.AddWithValue("$record", (object?)p.RecordId ?? DBNull.Value);
                s.Parameters.AddWithValue("$licence", (object?)p.Licence ?? DBNull.Value);
                s.Parameters.AddWithValue("$seen", _now);
                s.Parameters.AddWithValue("$source_host", (object?)ReversedHost(p.SourceUrl) ?? DBNull.Value);
                s.Parameters.AddWithValue("$page_host", (object?)ReversedHost(page) ?? DBNull.Value);
                await s.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
        }

        public async Task EnsureCollectionAsync(long collectionId, int item, CancellationToken ct)
        {
            if (_knownCollections.Contains(collectionId))
            {
                return;
            }

            _collectionId.Value = collectionId;
            if (await _findCollection.ExecuteScalarAsync(ct).ConfigureAwait(false) is null)
            {
                throw new CatalogException($"Batch item {item}: collection {collectionId} does not exist.");
            }

            _knownCollections.Add(collectionId);
        }

        private async Task<long> InsertFaceAsync(long imageId, Core.Faces.AnalyzedFace face, CancellationToken ct)
        {
            var box = face.Box;
            var lm = face.Landmarks;
            var insert = _insertFace;
            insert.Parameters.Clear();
            insert.Parameters.AddWithValue("$image", imageId);
            insert.Parameters.AddWithValue("$x1", box.X1);
            insert.Parameters.AddWithValue("$y1", box.Y1);
            insert.Parameters.AddWithValue("$x2", box.X2);
            insert.Parameters.AddWithValue("$y2", box.Y2);
            insert.Parameters.AddWithValue("$lex", lm.LeftEye.X);
            insert.Parameters.AddWithValue("$ley", lm.LeftEye.Y);
            insert.Parameters.AddWithValue("$rex", lm.RightEye.X);
            insert.Parameters.AddWithValue("$rey", lm.RightEye.Y);
            insert.Parameters.AddWithValue("$nx", lm.Nose.X);
            insert.Parameters.AddWithValue("$ny", lm.Nose.Y);
            insert.Parameters.AddWithValue("$mlx", lm.MouthLeft.X);
            insert.Parameters.AddWithValue("$mly", lm.MouthLeft.Y);
            insert.Parameters.AddWithValue("$mrx", lm.MouthRight.X);
            insert.Parameters.AddWithValue("$mry", lm.MouthRight.Y);
            insert.Parameters.AddWithValue("$score", face.DetectorScore);
            insert.Parameters.AddWithValue("$embedding", StoredEmbeddings.Encode(face.Embedding, _basis));
            insert.Parameters.AddWithValue("$model", _modelId);
            var q = face.Quality;
            insert.Parameters.AddWithValue("$q_score", Quality(q?.Score));
            insert.Parameters.AddWithValue("$q_eye", Quality(q?.InterEyePixels));
            insert.Parameters.AddWithValue("$q_sharp", Quality(q?.Sharpness));
            insert.Parameters.AddWithValue("$q_bright", Quality(q?.Brightness));
            insert.Parameters.AddWithValue("$q_contrast", Quality(q?.Contrast));
            insert.Parameters.AddWithValue("$q_yaw", Quality(q?.Yaw));
            insert.Parameters.AddWithValue("$q_pitch", Quality(q?.Pitch));
            insert.Parameters.AddWithValue("$q_roll", Quality(q?.Roll));
            insert.Parameters.AddWithValue("$q_fit", Quality(q?.LandmarkFit));
            return (long)(await insert.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
        }

        /// <summary>A quality column's value: NULL when the face has no quality (SQLite stores NaN as NULL anyway).</summary>
        private static object Quality(float? value) => value is { } v && float.IsFinite(v) ? v : DBNull.Value;

        private static SqliteCommand Command(SqliteConnection connection, SqliteTransaction tx, string sql)
        {
            var command = connection.CreateCommand();
            command.Transaction = tx;
            command.CommandText = sql;
            return command;
        }

        public void Dispose()
        {
            _findImage.Dispose();
            _findCollection.Dispose();
            _insertImage.Dispose();
            _insertFace.Dispose();
            _insertSighting.Dispose();
            _insertPreview.Dispose();
            _insertThumbnail.Dispose();
        }

        /// <summary>One prepared picture INSERT, its parameters bound once and reused for every row.</summary>
        private sealed class PictureInsert : IDisposable
        {
            private readonly SqliteCommand _command;
            private readonly SqliteParameter _id;
            private readonly SqliteParameter _width;
            private readonly SqliteParameter _height;
            private readonly SqliteParameter _jpeg;

            public PictureInsert(SqliteCommand command)
            {
                _command = command;
                _id = command.Parameters.Add("$id", SqliteType.Integer);
                _width = command.Parameters.Add("$width", SqliteType.Integer);
                _height = command.Parameters.Add("$height", SqliteType.Integer);
                _jpeg = command.Parameters.Add("$jpeg", SqliteType.Blob);
            }

            public async Task ExecuteAsync(long id, Picture picture, CancellationToken ct)
            {
                _id.Value = id;
                _width.Value = picture.Width;
                _height.Value = picture.Height;
                _jpeg.Value = picture.Jpeg;
                await _command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            public void Dispose() => _command.Dispose();
        }
    }
}
