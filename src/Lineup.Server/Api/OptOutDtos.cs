using Lineup.Core.Catalog;
using Lineup.Core.Oversight;
using Lineup.Hosting;

namespace Lineup.Server.Api;

/// <summary>A recorded opt-out request (never its embeddings).</summary>
/// <param name="Photos">How many photos gave a face, i.e. how many embeddings the request keeps.</param>
/// <param name="FacesErased">Gallery faces erased when the request was recorded.</param>
public sealed record OptOutDto(long Id, string Reference, string? Note, DateTimeOffset RecordedAt, string RecordedBy, int Photos, long FacesErased)
{
    public static OptOutDto From(OptOutRecord r) => new(r.Id, r.Reference, r.Note, r.RecordedAt, r.RecordedBy, r.Photos, r.FacesErased);
}

/// <summary>The registry: its requests, newest first, and the similarity at which a face counts as a requester's.</summary>
/// <param name="Threshold">Cosine at or above which a face matches a request (below the search threshold: it errs on the side of the person).</param>
/// <param name="ThresholdFmr">Calibrated false-match rate per comparison at <paramref name="Threshold"/>: about this share of other people's faces match a request photo too.</param>
/// <param name="SearchThreshold">The search's threshold, for comparison.</param>
public sealed record OptOutRegistryDto(float Threshold, double? ThresholdFmr, float SearchThreshold, IReadOnlyList<OptOutDto> Requests);

/// <summary>What became of one uploaded photo: the face taken from it (1-based, of how many) or why none was.</summary>
public sealed record OptOutPhotoDto(string Name, int? Face, int FacesInPhoto, string? Refusal)
{
    public static OptOutPhotoDto From(OptOutPhotoResult p) => new(p.Name, p.Face, p.FacesInPhoto, p.Refusal);
}

/// <summary>The answer to a recorded request: the request, each photo's outcome and the erasure receipt (null when no gallery face matched).</summary>
/// <param name="Compared">Gallery faces compared with the request's photos.</param>
public sealed record OptOutRecordedDto(OptOutDto Request, IReadOnlyList<OptOutPhotoDto> Photos, ErasureReceipt? Receipt, float Threshold, long Compared)
{
    public static OptOutRecordedDto From(OptOutResult r) =>
        new(OptOutDto.From(r.Request), r.Photos.Select(OptOutPhotoDto.From).ToList(), r.Receipt, r.Threshold, r.Compared);
}
