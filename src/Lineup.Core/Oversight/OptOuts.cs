using Lineup.Core.Catalog;

namespace Lineup.Core.Oversight;

/// <summary>
/// An opt-out request as it is recorded: the request's reference and the embeddings of the person's face, one per
/// usable photo. The photos themselves are never kept.
/// </summary>
/// <param name="Reference">The request's reference (a ticket or letter number), 1–200 characters, no control characters.</param>
/// <param name="Note">An optional note for administrators (at most 1,000 characters); never written to the audit log.</param>
/// <param name="Embeddings">The unit-length embeddings of the person's face, 1 to <see cref="NewOptOut.MaxEmbeddings"/>.</param>
public sealed record NewOptOut(string Reference, string? Note, IReadOnlyList<float[]> Embeddings)
{
    public const int MaxReferenceLength = 200;
    public const int MaxNoteLength = 1000;
    public const int MaxEmbeddings = 10;
}

/// <summary>A recorded opt-out request; <see cref="Photos"/> is how many embeddings it keeps (one per usable photo).</summary>
/// <param name="FacesErased">Gallery faces erased when the request was recorded.</param>
public sealed record OptOutRecord(
    long Id, string Reference, string? Note, DateTimeOffset RecordedAt, string RecordedBy, int Photos, long FacesErased);

/// <summary>One embedding of the registry and the request it belongs to. Biometric data: never logged or answered.</summary>
public readonly record struct OptOutEmbedding(long OptOutId, float[] Vector);

/// <summary>A recorded request and the receipt of the gallery faces its recording erased (null when none matched).</summary>
public sealed record OptOutRegistration(OptOutRecord Request, ErasureReceipt? Receipt);

/// <summary>
/// The opt-out registry. Recording a request, its embeddings, its audit event (action <see cref="Audit.AuditActions.Admin"/>,
/// subject <c>optout:ID</c>, details without any embedding) and the erasure of the matching gallery faces (with the erasure
/// receipt, subject <c>optout:ID</c> too) is one transaction: a request is never recorded without its erasure or the
/// other way round. Invalid arguments throw <see cref="ArgumentException"/>.
/// </summary>
public interface IOptOutStore
{
    /// <summary>
    /// Records <paramref name="request"/> and erases the gallery faces <paramref name="erase"/> (their thumbnails and
    /// embeddings, and the previews of their images, which show them; the images stay) in one transaction. Faces no longer in the catalog are passed over; the count of
    /// those erased is recorded as <see cref="OptOutRecord.FacesErased"/>.
    /// </summary>
    Task<OptOutRegistration> AddOptOutAsync(NewOptOut request, IReadOnlyList<long> erase, string by, CancellationToken ct = default);

    Task<OptOutRecord?> GetOptOutAsync(long id, CancellationToken ct = default);

    /// <summary>Every request, newest first.</summary>
    Task<IReadOnlyList<OptOutRecord>> ListOptOutsAsync(CancellationToken ct = default);

    /// <summary>Every embedding of the registry, by request.</summary>
    Task<IReadOnlyList<OptOutEmbedding>> ReadOptOutEmbeddingsAsync(CancellationToken ct = default);

    /// <summary>
    /// Changes whenever a request is recorded (by any process sharing the catalog): the highest request id, 0 for an
    /// empty registry. Cheap enough to ask before every search.
    /// </summary>
    Task<long> OptOutVersionAsync(CancellationToken ct = default);
}
