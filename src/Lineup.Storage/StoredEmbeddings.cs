using Lineup.Core.Catalog;
using Lineup.Core.Numerics;

namespace Lineup.Storage;

/// <summary>
/// The <c>faces.embedding</c> column on both backends: <see cref="EmbeddingCodec"/> bytes (schema 11 on), float16 before
/// (migration 11 re-encodes them).
/// </summary>
internal static class StoredEmbeddings
{
    /// <summary>SQL for the number of components of a row's embedding (the same on SQLite and PostgreSQL).</summary>
    public static readonly string DimensionsSql = "length(embedding) - " + EmbeddingCodec.HeaderBytes;

    /// <summary>The stored vector of face <paramref name="faceId"/>; a row that is not an embedding fails naming the face.</summary>
    public static float[] Decode(long faceId, byte[] blob)
    {
        try
        {
            return EmbeddingCodec.Decode(blob);
        }
        catch (InvalidDataException e)
        {
            throw new CatalogException($"Face {faceId}: its stored embedding cannot be read ({e.Message}).", e);
        }
    }

    /// <summary>
    /// Face <paramref name="faceId"/>'s float16 embedding of schema 10 and before (two bytes a component) re-encoded as
    /// <see cref="EmbeddingCodec"/> bytes (migration 11); a row that is not one fails naming the face.
    /// </summary>
    public static byte[] FromFloat16(long faceId, byte[] half) =>
        half.Length == 0 || half.Length % 2 != 0
            ? throw new CatalogException(
                $"Face {faceId}: its float16 embedding has {half.Length} bytes, not two a component; migration 11 cannot re-encode it.")
            : EmbeddingCodec.Encode(VectorMath.FromHalfBlob(half));
}
