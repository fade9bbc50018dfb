using System.Globalization;
using Lineup.Core.Audit;
using Lineup.Core.Oversight;

namespace Lineup.Storage;

/// <summary>
/// The checks and the audit event of an opt-out request, shared by the SQLite and PostgreSQL catalogs so that both
/// refuse the same requests with the same messages and log the same facts (reference and counts only, never an
/// embedding or the note).
/// </summary>
internal static class OptOutRequests
{
    /// <summary>Refuses a request with a bad reference, note or embeddings; returns the note as kept (trimmed, null when blank).</summary>
    public static string? Validate(NewOptOut request)
    {
        SqliteCatalog.RequireCaseText(request.Reference, "reference", NewOptOut.MaxReferenceLength);
        var note = string.IsNullOrWhiteSpace(request.Note) ? null : request.Note.Trim();
        if (note is not null && (note.Length > NewOptOut.MaxNoteLength || note.Any(c => char.IsControl(c) && c is not ('\n' or '\r' or '\t'))))
        {
            throw new ArgumentException($"The note must be at most {NewOptOut.MaxNoteLength} characters without control characters other than line breaks and tabs.");
        }

        var embeddings = request.Embeddings;
        ArgumentNullException.ThrowIfNull(embeddings);
        if (embeddings.Count is 0 or > NewOptOut.MaxEmbeddings)
        {
            throw new ArgumentException($"An opt-out request keeps 1 to {NewOptOut.MaxEmbeddings} embeddings, not {embeddings.Count}.");
        }

        var dimensions = embeddings[0]?.Length ?? 0;
        foreach (var vector in embeddings)
        {
            if (vector is null || vector.Length == 0 || vector.Length != dimensions || !vector.All(float.IsFinite))
            {
                throw new ArgumentException("The embeddings of an opt-out request must be finite vectors of one length.");
            }
        }

        return note;
    }

    /// <summary>The audit subject of request <paramref name="id"/>.</summary>
    public static string Subject(long id) => string.Create(CultureInfo.InvariantCulture, $"optout:{id}");

    /// <summary>The audit event recording request <paramref name="id"/>.</summary>
    public static NewAuditEvent RecordedEvent(long id, NewOptOut request, long facesErased, long previewsErased, string by)
    {
        var details = AuditDetails.Empty
            .With("change", "optout.record")
            .With("reference", SqliteCatalog.Truncate(request.Reference.Trim(), AuditDetails.MaxTextLength))
            .With("photos", (long)request.Embeddings.Count)
            .With("faces_erased", facesErased)
            .With("previews_erased", previewsErased);
        return new NewAuditEvent(by, AuditActions.Admin, Subject(id), details);
    }
}
