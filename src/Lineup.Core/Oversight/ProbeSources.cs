namespace Lineup.Core.Oversight;

/// <summary>
/// What the analyst attests the probe photo is. A face search is only as good as its probe: sketches, composites,
/// look-alikes ("celebrity doppelgangers") and edited or generated images have led to wrongful arrests, so they are
/// named here only to be refused.
/// </summary>
public static class ProbeSources
{
    public const string CctvStill = "cctv_still";
    public const string FieldPhoto = "field_photo";
    public const string SocialMedia = "social_media";
    public const string IdentityDocument = "identity_document";
    public const string Other = "other";

    public const string Sketch = "sketch";
    public const string Composite = "composite";
    public const string LookAlike = "look_alike";
    public const string Edited = "edited";
    public const string Generated = "generated";

    /// <summary>The sources a search may name, in the order forms offer them.</summary>
    public static IReadOnlyList<string> Accepted { get; } = [CctvStill, FieldPhoto, SocialMedia, IdentityDocument, Other];

    /// <summary>The sources that are always refused.</summary>
    public static IReadOnlyList<string> Refused { get; } = [Sketch, Composite, LookAlike, Edited, Generated];

    /// <summary>What each source means, for forms and help text.</summary>
    public static string Describe(string source) => source switch
    {
        CctvStill => "a still from CCTV or other surveillance video",
        FieldPhoto => "a photo taken by an officer",
        SocialMedia => "a photo from social media or the web",
        IdentityDocument => "a photo from an identity document",
        Other => "another genuine, unedited photo of the person",
        Sketch => "a drawn sketch",
        Composite => "a composite (e-fit, photofit)",
        LookAlike => "a photo of someone else who looks alike",
        Edited => "a photo edited to change the face (features pasted, blurred, filled in)",
        Generated => "an image generated or altered by software (AI)",
        _ => "unknown",
    };

    /// <summary>The known source named <paramref name="text"/> (case and '-'/'_'/' ' ignored), or null.</summary>
    public static string? Normalize(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        var key = text.Trim().Replace('-', '_').Replace(' ', '_').ToLowerInvariant();
        return Accepted.Concat(Refused).FirstOrDefault(s => s == key);
    }
}
