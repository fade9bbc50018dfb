using System.ComponentModel.DataAnnotations;
using Lineup.Core.Catalog;
using Lineup.Core.Faces;
using Lineup.Core.Imaging;
using Lineup.Ingest.Sources;

namespace Lineup.Hosting;

/// <summary>
/// Everything a Lineup process is configured with. Bound from <c>appsettings.json</c>, environment
/// (<c>LINEUP__Section__Key</c>) and the command line, and validated at start.
/// </summary>
public sealed class LineupOptions
{
    public const string Section = "Lineup";

    /// <summary>Holds catalog.db, index/, thumbs/, models/ and keys/ (DESIGN.md).</summary>
    [Required]
    public string DataDirectory { get; set; } = "./lineup-data";

    /// <summary>Model cache; defaults to <c>&lt;data&gt;/models</c>. Several data directories may share one.</summary>
    public string? ModelsDirectory { get; set; }

    /// <summary>
    /// Where the face models run: "cpu" (default; all the project needs) or "cuda" (an NVIDIA GPU, with a build made
    /// with <c>-p:OnnxRuntimeGpu=true</c>; see docs/performance.md).
    /// </summary>
    public string ExecutionProvider { get; set; } = "cpu";

    /// <summary>The CUDA device ordinal when <see cref="ExecutionProvider"/> is "cuda".</summary>
    [Range(0, 63)]
    public int CudaDevice { get; set; }

    [Range(1, 256)]
    public int Workers { get; set; } = Environment.ProcessorCount;

    public IndexSettings Index { get; set; } = new();

    public DecodeSettings Decode { get; set; } = new();

    public SearchSettings Search { get; set; } = new();

    /// <summary>The face thumbnails and image previews ingest stores for the UI (originals are never copied).</summary>
    public PictureOptions Pictures { get; set; } = new();

    /// <summary>Cases, intake and the supervisor view's rules.</summary>
    public OversightSettings Oversight { get; set; } = new();

    /// <summary>Identity clustering and the co-appearance graph (<c>Lineup:Network</c>).</summary>
    public NetworkSettings Network { get; set; } = new();

    /// <summary>
    /// <c>embedded</c> (default: SQLite catalog and USearch index in <see cref="DataDirectory"/>, one machine) or
    /// <c>distributed</c> (PostgreSQL catalog and Garnet cluster index from <see cref="Distributed"/>, any number of API
    /// processes and ingest workers). The one switch between the two (<c>Lineup:Backend</c>).
    /// </summary>
    public string Backend { get; set; } = "embedded";

    /// <summary>Where the distributed backend's engines are (<c>Lineup:Distributed</c>).</summary>
    public DistributedSettings Distributed { get; set; } = new();

    public bool IsDistributed => string.Equals(Backend, "distributed", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The re-rank factor searches use: <see cref="SearchSettings.Rerank"/> when set; otherwise 4 for an embedded
    /// int8 index (usearch i8, and the inverted file, which stores int8 codes), whose own scores are quantised and whose
    /// recall the re-rank restores (0.894 to 0.955 at 100k faces), and 1 for float16 and float32, and for the distributed
    /// index (not measured there).
    /// </summary>
    public int EffectiveRerank =>
        Search.Rerank ?? (!IsDistributed && (Index.Kind == "ivf" || (Index.Kind == "usearch" && Index.Quantization == "i8")) ? 4 : 1);

    /// <summary>
    /// The clock every time-dependent rule reads (authorisation and clearance expiry, retention, audit times). Not bound
    /// from configuration: tests replace it with a fake clock to step past an expiry.
    /// </summary>
    public TimeProvider Clock { get; set; } = TimeProvider.System;

    public string FullDataDirectory => Path.GetFullPath(DataDirectory);

    public string FullModelsDirectory => Path.GetFullPath(ModelsDirectory ?? Path.Combine(FullDataDirectory, "models"));

    public string CatalogPath => Path.Combine(FullDataDirectory, "catalog.db");

    public string IndexDirectory => Path.Combine(FullDataDirectory, "index");

    public DecodeLimits Limits => new()
    {
        MaxBytes = Decode.MaxBytes,
        MaxPixels = Decode.MaxPixels,
        MaxDecodedSide = Decode.MaxDecodedSide,
    };

    /// <summary>The budgets ingest sources enforce while reading: an item may be as large as the decoder accepts.</summary>
    public SourceLimits SourceLimits => new() { MaxItemBytes = Decode.MaxBytes };

    /// <summary>
    /// Throws <see cref="ValidationException"/> naming the first invalid setting by its configuration path (for example
    /// <c>Lineup:Distributed:LeaseSeconds</c>), before anything is opened or created.
    /// </summary>
    public void Validate()
    {
        ValidateSection(this, Section);
        ValidateSection(Index, Section + ":Index");
        ValidateSection(Decode, Section + ":Decode");
        ValidateSection(Search, Section + ":Search");
        ValidateSection(Oversight, Section + ":Oversight");
        ValidateSection(Network, Section + ":Network");
        Pictures.Validate();
        if (!IsDistributed && !string.Equals(Backend, "embedded", StringComparison.OrdinalIgnoreCase))
        {
            throw new ValidationException($"Lineup:Backend must be embedded or distributed, not '{Backend}'.");
        }

        if (IsDistributed)
        {
            ValidateSection(Distributed, Section + ":Distributed");
            Distributed.Validate();
        }

        if (ExecutionProvider is not ("cpu" or "cuda"))
        {
            throw new ValidationException($"Lineup:ExecutionProvider must be cpu or cuda, not '{ExecutionProvider}'.");
        }

        if (Index.Kind is not ("usearch" or "ivf" or "exact"))
        {
            throw new ValidationException($"Lineup:Index:Kind must be usearch, ivf or exact, not '{Index.Kind}'.");
        }

        if (Index.Quantization is not ("f32" or "f16" or "i8"))
        {
            throw new ValidationException($"Lineup:Index:Quantization must be f32, f16 or i8, not '{Index.Quantization}'.");
        }
    }

    /// <summary>The data annotations of one section; the message names the setting by its path, not just its property.</summary>
    private static void ValidateSection(object settings, string path)
    {
        var results = new List<ValidationResult>();
        if (Validator.TryValidateObject(settings, new ValidationContext(settings), results, validateAllProperties: true))
        {
            return;
        }

        var first = results[0];
        var member = first.MemberNames.FirstOrDefault();
        throw new ValidationException($"{path}{(member is null ? "" : ":" + member)}: {first.ErrorMessage}");
    }
}

/// <summary>The distributed backend: a PostgreSQL catalog, a Garnet cluster for the index, ingest workers.</summary>
public sealed class DistributedSettings
{
    /// <summary>Npgsql connection string of the catalog database (the system of record).</summary>
    public string? Postgres { get; set; }

    /// <summary>Garnet cluster nodes, <c>host:port</c> separated by commas (any subset; the rest is discovered).</summary>
    public string? Garnet { get; set; }

    /// <summary>Prefix of the vector-set keys; deployments sharing a cluster use different prefixes.</summary>
    [Required]
    public string KeyPrefix { get; set; } = "lineup:faces";

    /// <summary>Vector-set keys the faces are spread over (placed on different primaries). Fixed once faces are indexed.</summary>
    [Range(1, 1024)]
    public int Shards { get; set; } = 6;

    /// <summary>How long a worker's claim on an item lasts without a heartbeat before others take the item over.</summary>
    [Range(5, 3600)]
    public int LeaseSeconds { get; set; } = 60;

    /// <summary>Items a worker claims at a time.</summary>
    [Range(1, 1024)]
    public int ClaimBatch { get; set; } = 16;

    /// <summary>
    /// What the data annotations cannot say: both engines are named, the Garnet list parses, and the key prefix makes
    /// shard keys whose hash tag is their first (<c>GarnetShardLayout</c>). Checked here so that a typo is reported by
    /// its setting's name before the catalog is opened (the Garnet client's own messages name neither the setting nor,
    /// for an empty list, the value), and before anything is created in PostgreSQL.
    /// </summary>
    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(Postgres))
        {
            throw new ValidationException(
                "Lineup:Backend is distributed but Lineup:Distributed:Postgres (the PostgreSQL connection string) is not set.");
        }

        if (string.IsNullOrWhiteSpace(Garnet))
        {
            throw new ValidationException(
                "Lineup:Backend is distributed but Lineup:Distributed:Garnet (the Garnet cluster's host:port list) is not set.");
        }

        var nodes = Garnet.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (nodes.Length == 0)
        {
            throw new ValidationException($"Lineup:Distributed:Garnet names no node ('{Garnet}'); give host:port, separated by commas.");
        }

        foreach (var node in nodes)
        {
            var colon = node.LastIndexOf(':');
            if (colon <= 0 || !int.TryParse(node.AsSpan(colon + 1), System.Globalization.NumberStyles.None,
                System.Globalization.CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
            {
                throw new ValidationException($"Lineup:Distributed:Garnet: '{node}' is not host:port (a port from 1 to 65535).");
            }
        }

        if (KeyPrefix.AsSpan().IndexOfAny('{', '}') >= 0)
        {
            throw new ValidationException(
                $"Lineup:Distributed:KeyPrefix '{KeyPrefix}' may not contain '{{' or '}}': each shard key's hash tag must be its first.");
        }
    }
}

public sealed class IndexSettings
{
    /// <summary>
    /// "ivf" (the default: an inverted file over int8 codes of the principal components, on disk: at a million faces
    /// recall 0.963 at p99 2.0 ms against the graph's 0.965 at 15 ms, in 292 instead of 1,065 bytes a face, built 121×
    /// faster; at 100k faces 0.964 at p99 0.73 ms against 0.960 at 4.1 ms; docs/performance.md), "usearch" (an HNSW
    /// graph on disk, memory-mapped at start) or "exact" (brute force, in memory; the reference).
    /// </summary>
    public string Kind { get; set; } = "ivf";

    /// <summary>ivf: lists the gallery is cut into. Unset (the default) follows the size: about √faces (1,000 at a million).</summary>
    [Range(1, Lineup.Index.Ivf.IvfVectorIndex.MaxLists)]
    public int? Lists { get; set; }

    /// <summary>
    /// ivf: lists scanned per search, the recall/latency setting. Unset (the default) follows the list count
    /// (<see cref="Lineup.Index.Ivf.IvfVectorIndex.ProbesFor"/>).
    /// </summary>
    [Range(1, Lineup.Index.Ivf.IvfVectorIndex.MaxLists)]
    public int? Probes { get; set; }

    /// <summary>
    /// ivf: threads one search scans its lists on, 1 or 2. Unset: 2 where there are two cores. The second is one scan
    /// thread shared by all searches and taken by one at a time, so two answer a lone search sooner (1M faces: p50 / p99
    /// 1.38 / 2.01 ms against 1.95 / 2.28) and concurrent searches as fast as one (804 against 797 searches/s with two
    /// clients).
    /// </summary>
    [Range(1, 2)]
    public int? ScanThreads { get; set; }

    /// <summary>Scalar kind of the stored vectors: f32, f16 (default: same recall at half the memory) or i8.</summary>
    public string Quantization { get; set; } = "f16";

    [Range(4, 128)]
    public int Connectivity { get; set; } = 16;

    [Range(8, 4096)]
    public int ExpansionAdd { get; set; } = 128;

    /// <summary>
    /// Search breadth (HNSW ef). Unset (the default), it follows the gallery's size: 256 up to 100,000 faces, then about
    /// 256 × (faces / 100,000)^0.6, 1,024 at a million, at most 4,096 (<see cref="Lineup.Index.USearchVectorIndex.ExpansionSearchFor"/>).
    /// Measured with lineup bench index on real plus fitted synthetic faces (docs/performance.md): at 100,000 faces ef 256
    /// has recall@10 0.96 (USearch's own default, 64, has 0.77); at a million ef 256 has 0.77 and ef 1,024 has 0.94. A
    /// number fixes it whatever the size.
    /// </summary>
    [Range(8, 4096)]
    public int? ExpansionSearch { get; set; }

    /// <summary>
    /// When the saved index is in step with the catalog, answer searches at once from a memory-mapped view of it while
    /// a writable copy loads in the background (<see cref="Lineup.Index.MappedFirstIndex"/>); the first ingest or erasure
    /// waits for the copy. Measured (docs/performance.md): at 300k float16 faces the map takes 29 ms and the load 340 ms
    /// on a quiet machine; at 1M beside other work a new process answered 1.1 s after start mapped, 4.9 s (int8) to
    /// 7.0 s (float16) loaded. False loads before the first answer.
    /// </summary>
    public bool MapAtStart { get; set; } = true;
}

public sealed class DecodeSettings
{
    [Range(1, long.MaxValue)]
    public long MaxBytes { get; set; } = DecodeLimits.Default.MaxBytes;

    [Range(1, long.MaxValue)]
    public long MaxPixels { get; set; } = DecodeLimits.Default.MaxPixels;

    [Range(0, 65535)]
    public int MaxDecodedSide { get; set; } = DecodeLimits.Default.MaxDecodedSide;
}

public sealed class SearchSettings
{
    /// <summary>
    /// A probe face whose 0–100 quality score is below this is refused unless the search names a reason to
    /// override (recorded with the search). The default is the floor the pack's measurements support
    /// (<see cref="FaceQualityAssessor.RecommendedProbeFloor"/>); 0 turns the check off.
    /// </summary>
    [Range(0, 100)]
    public float QualityFloor { get; set; } = FaceQualityAssessor.RecommendedProbeFloor;

    /// <summary>
    /// Over-fetch factor of the exact re-rank: a search takes Rerank × top candidates from the index and orders them by
    /// the exact cosine with the embeddings the catalog stores (int8 with a scale, <see cref="Lineup.Core.Numerics.EmbeddingCodec"/>), so the scores shown are the catalog's, not the
    /// index's quantised ones. 1 turns it off. Unset (the default): 4 for an embedded int8 index, else 1 (see
    /// <see cref="LineupOptions.EffectiveRerank"/>). Measured (docs/performance.md): with an int8 index, 4 lifts
    /// recall@10 at ef 256 on 100k faces from 0.894 to 0.955 at the same latency; with the default float16 index it
    /// changes little.
    /// </summary>
    [Range(1, 20)]
    public int? Rerank { get; set; }

    /// <summary>Cosine at or above which a candidate is reported as above the threshold; null: the model pack's.</summary>
    [Range(-1.0, 1.0)]
    public float? Threshold { get; set; }
}

/// <summary>Identity clustering (<see cref="Core.Network.ClusteringParameters"/>, defaults measured) and network queries.</summary>
public sealed class NetworkSettings
{
    [Range(1, 1_000)]
    public int Neighbours { get; set; } = Core.Network.ClusteringParameters.Default.Neighbours;

    [Range(-1.0, 1.0)]
    public float EdgeThreshold { get; set; } = Core.Network.ClusteringParameters.Default.EdgeThreshold;

    [Range(-1.0, 1.0)]
    public float MergeThreshold { get; set; } = Core.Network.ClusteringParameters.Default.MergeThreshold;

    [Range(-1.0, 1.0)]
    public float SingleEdgeThreshold { get; set; } = Core.Network.ClusteringParameters.Default.SingleEdgeThreshold;

    [Range(0.0, 1.0)]
    public double Support { get; set; } = Core.Network.ClusteringParameters.Default.Support;

    [Range(0.0, 100.0)]
    public float QualityFloor { get; set; } = Core.Network.ClusteringParameters.Default.QualityFloor;

    /// <summary>Evidence items returned per kind (photos, pages) of an edge; counts are always complete.</summary>
    [Range(1, 1_000)]
    public int EvidenceLimit { get; set; } = 24;

    public Core.Network.ClusteringParameters Parameters => new()
    {
        Neighbours = Neighbours,
        EdgeThreshold = EdgeThreshold,
        MergeThreshold = MergeThreshold,
        SingleEdgeThreshold = SingleEdgeThreshold,
        Support = Support,
        QualityFloor = QualityFloor,
    };
}

public sealed class OversightSettings
{
    /// <summary>
    /// The offence categories a case may be opened for, and searched under; compared ignoring case. Configured as
    /// <c>Lineup:Oversight:Offences:0</c>, <c>…:1</c>, …; an empty list is the built-in one
    /// (<see cref="Core.Oversight.OversightPolicy.DefaultOffences"/>).
    /// </summary>
    public List<string> Offences { get; set; } = [];

    /// <summary>The working day the supervisor view flags searches outside of: first hour (0–23, local time).</summary>
    [Range(0, 23)]
    public int WorkdayStartHour { get; set; } = 7;

    /// <summary>The hour the working day ends (1–24, local time, exclusive).</summary>
    [Range(1, 24)]
    public int WorkdayEndHour { get; set; } = 19;

    /// <summary>The IANA or Windows time zone of the working day; null: UTC.</summary>
    public string? TimeZone { get; set; }

    /// <summary>
    /// Cosine at or above which a face counts as the person of an opt-out request (erased when the request is recorded,
    /// not stored at ingest, never returned by search). Null: the model pack's calibrated similarity at a false-match rate
    /// of 1 % per comparison (<c>LineupEngine.DefaultOptOutFmr</c>; 0.239 for the default pack, against the search
    /// threshold's 0.328 at 0.1 %), never above the search threshold. Lower errs further on the side of the person and
    /// costs more unrelated faces (about FMR × gallery size per request photo).
    /// </summary>
    [Range(-1.0, 1.0)]
    public float? OptOutThreshold { get; set; }

    public Core.Oversight.OversightPolicy Policy => new(Offences.Count > 0 ? Offences : Core.Oversight.OversightPolicy.DefaultOffences);
}
