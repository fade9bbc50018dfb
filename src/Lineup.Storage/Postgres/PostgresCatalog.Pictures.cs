using Lineup.Core.Catalog;
using Npgsql;

namespace Lineup.Storage.Postgres;

/// <summary>
/// The pictures the UI shows (<see cref="IPictureStore"/>): written by the batch writer in the same transaction as
/// their face or image, removed with it (ON DELETE CASCADE), read here one at a time by primary key.
/// </summary>
public sealed partial class PostgresCatalog : IPictureStore
{
    public Task<Picture?> GetFaceThumbnailAsync(long faceId, CancellationToken ct = default) =>
        ReadPictureAsync("SELECT width, height, jpeg FROM face_thumbnails WHERE face_id = @id", faceId, ct);

    public Task<Picture?> GetImagePreviewAsync(long imageId, CancellationToken ct = default) =>
        ReadPictureAsync("SELECT width, height, jpeg FROM image_previews WHERE image_id = @id", imageId, ct);

    private async Task<Picture?> ReadPictureAsync(string sql, long id, CancellationToken ct)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("id", id);
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false)
            ? new Picture(reader.GetInt32(0), reader.GetInt32(1), reader.GetFieldValue<byte[]>(2))
            : null;
    }
}
