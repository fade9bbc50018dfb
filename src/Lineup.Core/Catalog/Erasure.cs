namespace Lineup.Core.Catalog;

/// <summary>
/// What one erasure removed from the catalog, and when. Ids only: the receipt is written into the audit log, which
/// never holds biometric data.
/// </summary>
/// <param name="Images">Erased image ids: the image asked for, its original when it was a near-duplicate copy, and every copy.</param>
/// <param name="Faces">Erased face ids (their embeddings and thumbnails went with them).</param>
/// <param name="Sightings">How many sightings (places the images were seen) were erased.</param>
/// <param name="At">When the erasure committed.</param>
/// <param name="AuditSeq">The sequence number of the receipt event in the audit log; null when the catalog keeps none.</param>
public sealed record ErasureReceipt(IReadOnlyList<long> Images, IReadOnlyList<long> Faces, long Sightings, DateTimeOffset At, long? AuditSeq = null);

/// <summary>
/// Erasure of gallery data: rows, pictures and embeddings go in one transaction with the audit receipt, and the
/// database files are compacted afterwards so that the erased bytes leave the disk files too. The vector index is
/// derived data; whoever holds it (<c>LineupEngine</c>) removes the erased faces from it.
/// </summary>
public interface IErasure
{
    /// <summary>
    /// Erases an image with its faces, thumbnails, preview and sightings, and every near-duplicate copy of the same
    /// photo (erasing a copy erases its original and the other copies: they share the faces). Ingest item outcomes
    /// keep their row (the record that a file was processed) but lose the link to the image. An unknown id is a
    /// <see cref="CatalogException"/> and erases nothing.
    /// </summary>
    /// <param name="actor">Who erases, as recorded in the audit receipt.</param>
    Task<ErasureReceipt> EraseImageAsync(long imageId, string actor, CancellationToken ct = default);

    /// <summary>
    /// Erases faces (embedding, thumbnail); their images stay. All or nothing: any unknown id is a
    /// <see cref="CatalogException"/> that names the unknown ids and erases nothing.
    /// </summary>
    /// <param name="actor">Who erases, as recorded in the audit receipt.</param>
    /// <param name="subject">The audit subject ("kind:id"); "face:ID" of the first face when null.</param>
    Task<ErasureReceipt> EraseFacesAsync(IReadOnlyList<long> faceIds, string actor, string? subject = null, CancellationToken ct = default);
}
