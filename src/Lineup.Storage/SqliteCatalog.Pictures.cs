using Lineup.Core.Catalog;

namespace Lineup.Storage;

/// <summary>
/// The pictures the UI shows (<see cref="IPictureStore"/>): written by the batch writer in the same transaction as
/// their face or image, removed with it (ON DELETE CASCADE), read here one at a time by primary key.
/// </summary>
public sealed partial class SqliteCatalog : IPictureStore
{
    public Task<Picture?> GetFaceThumbnailAsync(long faceId, CancellationToken ct = default) =>
        ReadPictureAsync("SELECT width, height, jpeg FROM face_thumbnails WHERE face_id = $id", faceId, ct);

    public Task<Picture?> GetImagePreviewAsync(long imageId, CancellationToken ct = default) =>
        ReadPictureAsync("SELECT width, height, jpeg FROM image_previews WHERE image_id = $id", imageId, ct);

    private async Task<Picture?> ReadPictureAsync(string sql, long id, CancellationToken ct)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Parameters.AddWithValue("$id", id);
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false)
            ? new Picture(reader.GetInt32(0), reader.GetInt32(1), (byte[])reader.GetValue(2))
            : null;
    }
}
