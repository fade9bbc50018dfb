using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using Lineup.Core.Evaluation;

namespace Lineup.Vision.Models;

/// <summary>One ONNX file of a model pack: its role, file name, checksum and how it is fed.</summary>
public sealed record ModelFileEntry(
    string Name,
    string File,
    string Sha256,
    IReadOnlyList<int> Input,
    string Colour,
    string Normalise,
    string Outputs);

/// <summary>The similarity threshold a pack ships with, and what produced it.</summary>
/// <param name="Threshold">Cosine at or above which a candidate is reported as above the threshold.</param>
/// <param name="Source">The evaluation that produced it.</param>
public sealed record ModelCalibration(float Threshold, string Source)
{
    /// <summary>
    /// The map from similarity to the estimated false-match rate of one comparison (and the true-match rate) that
    /// <c>lineup eval --write-calibration</c> fitted; null for a pack shipped without one (candidates then carry no
    /// FMR estimate).
    /// </summary>
    public ScoreCalibration? Scores { get; init; }
}

/// <summary>
/// A model pack described as data (STYLE.md §5): where it comes from, the SHA-256 of the archive and of
/// every file, and how each model is fed. The default pack's manifest is committed in the repo and
/// embedded in this assembly.
/// </summary>
public sealed record ModelPackManifest(
    string Id,
    string Package,
    string Version,
    string Tarball,
    string TarballSha256,
    string Licence,
    IReadOnlyList<ModelFileEntry> Models,
    ModelCalibration Calibration)
{
    /// <summary>How manifests are read and written (camelCase, indented).</summary>
    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>The default pack, <c>faceplugin-face-recognition-js@0.0.1</c>.</summary>
    public static ModelPackManifest Default { get; } = LoadEmbedded();

    /// <summary>npm package spec, e.g. <c>faceplugin-face-recognition-js@0.0.1</c>.</summary>
    public string PackageSpec => $"{Package}@{Version}";

    public ModelFileEntry Get(string name) =>
        Models.FirstOrDefault(m => m.Name == name)
        ?? throw new KeyNotFoundException($"Model pack '{Id}' has no model named '{name}'.");

    public static ModelPackManifest Parse(string json) =>
        JsonSerializer.Deserialize<ModelPackManifest>(json, JsonOptions)
        ?? throw new InvalidDataException("The model pack manifest is empty.");

    private static ModelPackManifest LoadEmbedded()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("Lineup.Vision.model-pack.json")
            ?? throw new InvalidOperationException("The default model pack manifest is not embedded in Lineup.Vision.");
        using var reader = new StreamReader(stream);
        return Parse(reader.ReadToEnd());
    }
}
