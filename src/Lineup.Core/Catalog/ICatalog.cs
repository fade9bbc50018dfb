namespace Lineup.Core.Catalog;

/// <summary>
/// The system of record: collections, images with provenance, faces with embeddings. Every write is one
/// transaction; an acknowledged write survives a crash.
/// </summary>
public interface ICatalog : IAsyncDisposable
{
    /// <summary>Model id written with every face (embeddings of different models are not comparable).</summary>
    string ModelId { get; }

    /// <summary>Returns the named collection, creating it when missing. An existing collection with a
    /// different lawful basis or jurisdiction is a <see cref="CatalogException"/>.</summary>
    Task<Collection> EnsureCollectionAsync(string name, string lawfulBasis, string? jurisdiction, CancellationToken ct = default);

    Task<Collection?> FindCollectionAsync(string name, CancellationToken ct = default);

    Task<IReadOnlyList<Collection>> ListCollectionsAsync(CancellationToken ct = default);

    /// <summary>Finds an image by the SHA-256 of its bytes.</summary>
    Task<ImageRecord?> FindImageAsync(byte[] sha256, CancellationToken ct = default);

    /// <summary>Writes a batch of images and their faces in one transaction. Images whose bytes are already
    /// catalogued are not written again (<see cref="StoredImage.AlreadyPresent"/>). Each written face's
    /// <see cref="Faces.AnalyzedFace.Embedding"/> is replaced in place with the vector as stored (what every later read
    /// gives back: <see cref="Numerics.EmbeddingCodec"/>), so that an index fed it holds what a rebuild from the catalog
    /// gives it.</summary>
    Task<IReadOnlyList<StoredImage>> AddImagesAsync(IReadOnlyList<NewImage> images, CancellationToken ct = default);

    Task<ImageRecord?> GetImageAsync(long imageId, CancellationToken ct = default);

    Task<FaceRecord?> GetFaceAsync(long faceId, CancellationToken ct = default);

    /// <summary>Faces by id, with their images; unknown ids are left out.</summary>
    Task<IReadOnlyList<(FaceRecord Face, ImageRecord Image)>> GetFacesWithImagesAsync(IReadOnlyList<long> faceIds, CancellationToken ct = default);

    Task<IReadOnlyList<FaceRecord>> GetFacesOfImageAsync(long imageId, CancellationToken ct = default);

    /// <summary>
    /// The stored embeddings of these faces (int8 with a scale, or 10-bit coefficients of the model's basis, decoded:
    /// <see cref="Numerics.EmbeddingCodec"/>), in the
    /// order asked; unknown ids and faces of another model are left out. A search re-ranks the index's candidates with
    /// them (<c>Lineup:Search:Rerank</c>) and screens them against the opt-out registry.
    /// </summary>
    Task<IReadOnlyList<StoredEmbedding>> GetEmbeddingsAsync(IReadOnlyList<long> faceIds, CancellationToken ct = default);

    /// <summary>Streams embeddings in ascending face id order, starting after <paramref name="afterFaceId"/>.</summary>
    IAsyncEnumerable<StoredEmbedding> ReadEmbeddingsAsync(long afterFaceId = 0, CancellationToken ct = default);

    Task<CatalogStats> GetStatsAsync(CancellationToken ct = default);

    /// <summary>Every place the image was seen, and the places its near-duplicate copies were seen, oldest first.</summary>
    Task<IReadOnlyList<Sighting>> GetSightingsAsync(long imageId, CancellationToken ct = default);

    /// <summary>Perceptual hashes of every image that is not itself a near-duplicate, in id order after
    /// <paramref name="afterImageId"/>, for the near-duplicate index.</summary>
    IAsyncEnumerable<ImageHash> ReadPerceptualHashesAsync(long afterImageId = 0, CancellationToken ct = default);

    /// <summary>The embeddings of an image's faces, in face id order.</summary>
    Task<IReadOnlyList<StoredEmbedding>> GetEmbeddingsOfImageAsync(long imageId, CancellationToken ct = default);
}
