using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using Lineup.Core.Catalog;
using Lineup.Core.Evaluation;
using Lineup.Core.Faces;
using Lineup.Core.Indexing;

namespace Lineup.Hosting;

/// <summary>How many synthetic faces to add and how their identities are shaped (<see cref="SyntheticGallery"/>).</summary>
public sealed record SyntheticGalleryOptions
{
    /// <summary>Faces to add (1 to 100,000,000).</summary>
    public int Faces { get; init; } = 100_000;

    /// <summary>Every vector, identity size and image hash follows from the seed and the real faces.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>
    /// The median cosine between two faces of one synthetic identity (a genuine pair). Default
    /// <see cref="SyntheticGallery.DefaultWithinIdentityCosine"/>, measured on the DEV set.
    /// </summary>
    public double WithinIdentityCosine { get; init; } = SyntheticGallery.DefaultWithinIdentityCosine;

    /// <summary>
    /// Standard deviation, in radians, of each face's angle from its identity's centre: how much the genuine cosines
    /// spread around their median. Default <see cref="SyntheticGallery.DefaultWithinIdentityAngleSpread"/>.
    /// </summary>
    public double WithinIdentityAngleSpread { get; init; } = SyntheticGallery.DefaultWithinIdentityAngleSpread;

    /// <summary>Each identity has 1 to this many faces, uniformly (the DEV set averages 3 photos per identity).</summary>
    public int MaxFacesPerIdentity { get; init; } = 5;

    /// <summary>Images (one face each) per catalog transaction and per index add.</summary>
    public int BatchSize { get; init; } = 2_000;

    /// <exception cref="ArgumentOutOfRangeException">A value outside its range.</exception>
    public void Validate()
    {
        if (Faces is < 1 or > 100_000_000)
        {
            throw new ArgumentOutOfRangeException(nameof(Faces), Faces, "The number of synthetic faces must be between 1 and 100,000,000.");
        }

        if (!(WithinIdentityCosine is > 0 and < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(WithinIdentityCosine), WithinIdentityCosine, "The within-identity cosine must lie strictly between 0 and 1.");
        }

        if (!(WithinIdentityAngleSpread is >= 0 and <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(WithinIdentityAngleSpread), WithinIdentityAngleSpread, "The angle spread must lie between 0 and 1 radian.");
        }

        if (MaxFacesPerIdentity is < 1 or > 1_000)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxFacesPerIdentity), MaxFacesPerIdentity, "An identity may have 1 to 1,000 faces.");
        }

        if (BatchSize is < 1 or > 100_000)
        {
            throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "A batch holds 1 to 100,000 faces.");
        }
    }
}

/// <summary>
/// How closely the synthetic faces resemble real ones, measured at fit time on real faces the model was not built from
/// (the held-out half): their cosines to those faces against the real impostor cosines among them.
/// </summary>
/// <param name="BasisFaces">Real faces whose mean and covariance define the Gaussian.</param>
/// <param name="HeldOutFaces">Other real faces (other pseudo-identities) the comparison is made on.</param>
/// <param name="PseudoIdentities">Groups of real faces linked at cosine ≥ <see cref="SyntheticGallery.LinkCosine"/>.</param>
/// <param name="KsDistance">Two-sample Kolmogorov–Smirnov distance between the two cosine distributions.</param>
/// <param name="RealMean">Mean real impostor cosine (held-out pairs in different groups).</param>
/// <param name="SyntheticMean">Mean cosine of a synthetic face to a held-out real face.</param>
/// <param name="Quantiles">Both distributions' quantiles side by side.</param>
/// <param name="SyntheticToSyntheticMean">Mean cosine between two synthetic faces of different identities (real: <paramref name="RealMean"/>).</param>
public sealed record SyntheticFitReport(
    int BasisFaces,
    int HeldOutFaces,
    int PseudoIdentities,
    double KsDistance,
    double RealMean,
    double SyntheticMean,
    IReadOnlyList<DistractorQuantile> Quantiles,
    double SyntheticToSyntheticMean,
    int RealScores,
    int SyntheticScores)
{
    /// <summary>The real (or synthetic) quantile at <paramref name="level"/>; NaN when the report has no such level.</summary>
    public double Quantile(double level, bool synthetic = false) =>
        Quantiles.FirstOrDefault(q => Math.Abs(q.Level - level) < 1e-9) is { } q ? (synthetic ? q.Synthetic : q.Real) : double.NaN;
}

/// <summary>What <see cref="SyntheticGallery.AddAsync"/> did.</summary>
/// <param name="FacesAdded">Synthetic faces written to the catalog and the index by this call.</param>
/// <param name="FirstFace">Number (from 0) of this call's first face among all synthetic faces of the seed's layout.</param>
/// <param name="Identities">Identities this call wrote faces of (the first may continue an earlier call's last one).</param>
/// <param name="SyntheticFaces">Faces in the synthetic collection afterwards.</param>
/// <param name="RealFaces">Real faces in the catalog (every face outside the synthetic collection).</param>
/// <param name="FitFaces">Real faces the distribution was fitted on (all of them, or a seeded sample of <see cref="SyntheticGallery.MaxFitFaces"/>).</param>
/// <param name="Fit">How closely the synthetic faces resemble held-out real faces.</param>
/// <param name="GenerateElapsed">Drawing the vectors (parallel).</param>
/// <param name="CatalogElapsed">Writing the catalog transactions.</param>
/// <param name="IndexWaitElapsed">Waiting for index inserts beyond what overlapped with the next batch: when it is most of
/// <paramref name="Elapsed"/>, the index insert bounds the rate.</param>
/// <param name="CatalogFaces">Faces in the catalog afterwards.</param>
/// <param name="IndexedFaces">Faces in the index afterwards.</param>
public sealed record SyntheticGalleryResult(
    int FacesAdded,
    long FirstFace,
    long Identities,
    long SyntheticFaces,
    long RealFaces,
    int FitFaces,
    SyntheticFitReport Fit,
    TimeSpan FitElapsed,
    TimeSpan Elapsed,
    TimeSpan GenerateElapsed,
    TimeSpan CatalogElapsed,
    TimeSpan IndexWaitElapsed,
    long CatalogFaces,
    long IndexedFaces)
{
    /// <summary>Faces added per second, fit included (the fit takes seconds; the index insert dominates).</summary>
    public double FacesPerSecond => FacesAdded / Math.Max(Elapsed.TotalSeconds, 1e-9);
}

/// <summary>The catalog cannot take a synthetic gallery: too few real faces to fit it on.</summary>
public sealed class SyntheticGalleryException(string message) : Exception(message);

/// <summary>
/// Adds synthetic faces (embeddings only, no pixels, no person) to a gallery for load and scale benchmarks: a
/// 100,000-face gallery from the ~1,800 real DEV faces, later 1M and 10M.
/// <para>
/// The face distribution is the Gaussian with the real faces' mean μ and covariance Σ, drawn as
/// μ + Xcᵀw / √(n − 1) with w ~ N(0, Iₙ) over the n centred real rows Xc (as <see cref="SyntheticDistractors"/> does,
/// without an eigen-decomposition), then normalised. Its spread is not fitted: <see cref="SyntheticDistractors"/> fits a
/// factor α on the deviation to match the tails of the cosines to held-out real faces, which serves distractors scored
/// against real probes, but on the DEV faces it settles at α ≈ 0.28, where the shared mean direction dominates: two such
/// draws have cosine 0.13 on average (real strangers: 0.005), and a gallery of them is a narrow cone around μ. With
/// α = 1 (measured on DEV, held-out half): synthetic-to-real mean 0.007, sd 0.095, 99th percentile 0.228 against
/// 0.005, 0.095, 0.242 for real impostors, and synthetic-to-synthetic mean 0.012.
/// </para>
/// <para>
/// Identities. Identity i has a centre deviation u_c and 1 to <see cref="SyntheticGalleryOptions.MaxFacesPerIdentity"/>
/// faces. A face is normalise(μ + cos θ · u_c + sin θ · u_e⊥): its own draw u_e, made orthogonal to u_c at its own
/// length, at an angle θ ~ N(θ₀, σ²) from the centre with cos² θ₀ = <see cref="SyntheticGalleryOptions.WithinIdentityCosine"/>.
/// Mixing deviations (not unit vectors) keeps every face a draw from the same Gaussian (cos² θ + sin² θ = 1), so to
/// everybody else a synthetic face is one more stranger, while two faces of one identity have cosine ≈ cos θ₁ cos θ₂
/// (median ≈ cos² θ₀). Isotropic noise instead would shrink a face's cosines to everyone by cos θ₀ ≈ 0.8, and mixing unit
/// vectors would count μ twice (cross-identity mean 0.26, measured).
/// </para>
/// <para>
/// The within-identity spread cannot be fitted from the catalog: its faces carry no identity labels. It is a parameter
/// whose defaults come from the DEV set's labelled genuine pairs (see <see cref="DefaultWithinIdentityCosine"/>).
/// </para>
/// <para>
/// The resemblance is measured without labels too (<see cref="SyntheticFitReport"/>). Real faces (all of them, or a
/// seeded sample of <see cref="MaxFitFaces"/>) are grouped into pseudo-identities by linking every pair at cosine ≥
/// <see cref="LinkCosine"/>; groups alternate between the basis half and the held-out half, and the real impostor cosines
/// are the held-out pairs in different groups. On the DEV faces (1,808 faces) these cross-group pairs have 99th/99.9th
/// percentiles 0.242/0.342 against 0.242/0.334 for the labelled impostor pairs of lineup eval's half B, while a random
/// split would count the 0.7 % same-identity pairs as impostors and put the 99.9th percentile near 0.44.
/// </para>
/// <para>
/// Never mixed silently with real data: everything goes into the collection <see cref="CollectionName"/> (lawful basis
/// <see cref="LawfulBasis"/>, jurisdiction ZZ), each image's source URL is <c>synthetic://identity/{i}/face/{j}</c>, and a
/// search filtered by collection leaves them out. The catalog stays the source of truth: a rebuilt index contains them.
/// </para>
/// <para>
/// Deterministic: with the same real faces and seed, face k (counted over every call) always gets the same vector,
/// identity and hash (a counter-based generator: SplitMix64 keyed by seed, stream and index, Box–Muller), and a call
/// continues the layout where the collection's face count ends, so 100,000 faces added in two calls equal 100,000 added
/// in one. Cost: rows × 512 multiply-adds per draw (about 1.3 draws per face, parallel); one catalog transaction per
/// batch; the index insert (serialised inside the USearch index) dominates and runs beside the next batch's
/// generation and catalog write.
/// </para>
/// </summary>
public static class SyntheticGallery
{
    public const string CollectionName = "synthetic";

    public const string LawfulBasis = "synthetic benchmark data, no person";

    public const string Jurisdiction = "ZZ";

    /// <summary>The image format recorded for a synthetic image (it has no bytes).</summary>
    public const string Format = "synthetic";

    /// <summary>Fewer real faces than this cannot describe the distribution (the basis half would have under 100 rows).</summary>
    public const int MinimumRealFaces = 200;

    /// <summary>
    /// At most this many real faces (a seeded sample) are fitted on: the pseudo-identity grouping compares every pair
    /// (8.4M cosines at 4,096 faces, a few seconds on two cores), and the basis half's 2,048 rows already estimate a
    /// 512-dimensional covariance; generation costs rows × 512 multiply-adds per draw.
    /// </summary>
    public const int MaxFitFaces = 4_096;

    /// <summary>
    /// Real faces at or above this cosine are taken to be one person when grouping pseudo-identities. On the model
    /// pack's calibration (every pair of 1,468 labelled DEV faces) 0.485 is FMR 10⁻⁵, so 4,096 faces give about 40
    /// false links and no giant group (largest group on DEV: 86 faces); a lower link (0.35) chains 1,255 of the 1,808
    /// DEV faces into one group.
    /// </summary>
    public const double LinkCosine = 0.5;

    /// <summary>
    /// Median genuine cosine of the DEV set: the model pack's calibration (model-pack.json, fitted by lineup eval on
    /// 2026-11-29 over every pair of 1,468 labelled DEV faces: 8,345 genuine pairs) has TMR 0.5 at cosine 0.627
    /// (quartiles 0.503 and 0.719; pairs.csv's 636 genuine pairs alone: median 0.659).
    /// </summary>
    public const double DefaultWithinIdentityCosine = 0.63;

    /// <summary>
    /// σ of the angle from the identity centre, chosen so that synthetic genuine pairs spread like the DEV genuine pairs
    /// (interquartile range 0.503–0.719, about 0.22): a face's cosine to its centre then has standard deviation
    /// sin θ₀ · σ ≈ 0.14, and a pair's cosine cos θ₁ cos θ₂ about √2 · cos θ₀ · 0.14 ≈ 0.16.
    /// </summary>
    public const double DefaultWithinIdentityAngleSpread = 0.23;

    // Counter-based draws: (seed, stream, index) gives the same numbers however the work is chunked or parallelised.
    private const ulong CentreStream = 1;
    private const ulong FaceStream = 2;
    private const ulong ReportStream = 3;
    private const ulong ProbeStream = 4;
    private const ulong SizeStream = 0x51;
    private const ulong AngleStream = 0x52;
    private const ulong HashStream = 0x53;
    private const ulong SampleStream = 0x54;

    /// <summary>SplitMix64's increment (2⁶⁴ / φ).</summary>
    private const ulong Golden = 0x9E3779B97F4A7C15UL;

    /// <summary>Synthetic faces drawn to measure the resemblance (1,000 × up to 2,048 held-out faces = 2M cosines).</summary>
    private const int ReportFaces = 1_000;

    private static readonly double[] s_reportLevels = [0.01, 0.1, 0.5, 0.9, 0.99, 0.999];

    /// <summary>The source URL of synthetic face <paramref name="face"/> (from 0) of identity <paramref name="identity"/> (from 0).</summary>
    public static string SourceUrl(long identity, int face) =>
        string.Create(CultureInfo.InvariantCulture, $"synthetic://identity/{identity}/face/{face}");

    /// <summary>Reads a <see cref="SourceUrl"/> back; false for any other URL.</summary>
    public static bool TryParseSourceUrl(string? url, out long identity, out int face)
    {
        identity = 0;
        face = 0;
        const string Prefix = "synthetic://identity/";
        if (url is null || !url.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }

        var parts = url[Prefix.Length..].Split("/face/");
        return parts.Length == 2
            && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out identity)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out face);
    }

    /// <summary>
    /// Adds <see cref="SyntheticGalleryOptions.Faces"/> synthetic faces to the engine's catalog (collection
    /// <see cref="CollectionName"/>, one face per image, in transactions of <see cref="SyntheticGalleryOptions.BatchSize"/>)
    /// and to its index, fitted to the real faces already catalogued. Holds the data directory's ingest lock throughout.
    /// The index file is written when the engine is disposed (as after an ingest; until then a crash is caught up from
    /// the catalog at the next start).
    /// </summary>
    /// <exception cref="SyntheticGalleryException">Fewer than <see cref="MinimumRealFaces"/> real faces.</exception>
    /// <exception cref="CatalogException">A collection named <see cref="CollectionName"/> exists with another lawful basis.</exception>
    /// <exception cref="IngestBusyException">Another process is ingesting into the data directory.</exception>
    public static async Task<SyntheticGalleryResult> AddAsync(
        LineupEngine engine, SyntheticGalleryOptions options, IProgress<string>? progress = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        using var exclusive = IngestLock.Acquire(engine.Options.FullDataDirectory);
        var clock = Stopwatch.StartNew();
        var catalog = engine.Catalog;
        var index = engine.Index;
        var dimensions = index.Dimensions;

        var existing = await catalog.FindCollectionAsync(CollectionName, ct).ConfigureAwait(false);
        if (existing is not null && (existing.LawfulBasis != LawfulBasis || existing.Jurisdiction != Jurisdiction))
        {
            throw new CatalogException(
                $"A collection named '{CollectionName}' exists with lawful basis '{existing.LawfulBasis}' ({existing.Jurisdiction}); synthetic " +
                $"faces go only into a '{CollectionName}' collection with lawful basis '{LawfulBasis}' ({Jurisdiction}).");
        }

        var synthetic = existing is null ? FaceKeySet.Empty : await SyntheticFacesAsync(catalog, ct).ConfigureAwait(false);
        var fitClock = Stopwatch.StartNew();
        var generator = await FitAsync(catalog, synthetic, dimensions, options, progress, ct).ConfigureAwait(false);
        var (fit, realFaces) = (generator.Fit, generator.RealFaces);
        var fitElapsed = fitClock.Elapsed;
        progress?.Report(string.Create(CultureInfo.InvariantCulture,
            $"fitted in {fitElapsed.TotalSeconds:0.0} s: {fit.PseudoIdentities:N0} pseudo-identities, basis {fit.BasisFaces:N0} / held out {fit.HeldOutFaces:N0} faces; " +
            $"cosines to held-out real faces, real impostors vs synthetic: mean {fit.RealMean:0.000}/{fit.SyntheticMean:0.000}, " +
            $"99th percentile {fit.Quantile(0.99):0.000}/{fit.Quantile(0.99, synthetic: true):0.000}, " +
            $"99.9th {fit.Quantile(0.999):0.000}/{fit.Quantile(0.999, synthetic: true):0.000}, KS {fit.KsDistance:0.000}; " +
            $"synthetic strangers' mean {fit.SyntheticToSyntheticMean:0.000}"));

        var collection = await catalog.EnsureCollectionAsync(CollectionName, LawfulBasis, Jurisdiction, ct).ConfigureAwait(false);
        var layout = new Layout(options.Seed, options.MaxFacesPerIdentity, synthetic.Count);
        var first = layout.Face;
        var firstIdentity = layout.Identity;
        var shape = generator.Shape;
        var buffers = new[] { new float[options.BatchSize * dimensions], new float[options.BatchSize * dimensions] };
        Task? indexing = null;
        var basisSchedule = new EmbeddingBasisSchedule(catalog);
        var added = 0;
        var lastIdentity = firstIdentity;
        var lastReport = Stopwatch.GetTimestamp();
        TimeSpan generating = default, cataloguing = default, waiting = default;
        try
        {
            for (var b = 0; added < options.Faces; b++)
            {
                ct.ThrowIfCancellationRequested();
                var count = Math.Min(options.BatchSize, options.Faces - added);
                var vectors = buffers[b % 2];
                var plan = layout.Take(count);
                lastIdentity = plan[^1].Identity;
                var step = Stopwatch.GetTimestamp();
                await Task.Run(() => shape.Generate(plan, vectors), ct).ConfigureAwait(false);
                var images = Images(collection.Id, plan, vectors, dimensions, options.Seed);
                generating += Stopwatch.GetElapsedTime(step);
                step = Stopwatch.GetTimestamp();
                var stored = await catalog.AddImagesAsync(images, ct).ConfigureAwait(false);
                cataloguing += Stopwatch.GetElapsedTime(step);
                var keys = new long[count];
                for (var i = 0; i < count; i++)
                {
                    // A hash can only be present already if the layout was continued from a wrong count; never index a face twice.
                    keys[i] = stored[i].AlreadyPresent
                        ? throw new CatalogException($"Synthetic image {SourceUrl(plan[i].Identity, plan[i].Face)} is catalogued already; the collection's face count and the seed's layout disagree.")
                        : stored[i].FaceIds[0];
                }

                if (indexing is not null)
                {
                    step = Stopwatch.GetTimestamp();
                    await indexing.ConfigureAwait(false);
                    waiting += Stopwatch.GetElapsedTime(step);
                }

                // The other buffer is free: the insert that read it has just finished. The index takes each vector as the
                // catalog now gives it back (the write replaced each face's embedding with it), so a rebuild from the
                // catalog reproduces it exactly.
                var batchVectors = vectors;
                for (var i = 0; i < count; i++)
                {
                    images[i].Faces[0].Embedding.CopyTo(batchVectors.AsSpan(i * dimensions, dimensions));
                }

                indexing = Task.Run(() => index.AddRange(keys, batchVectors.AsSpan(0, count * dimensions)), CancellationToken.None);
                added += count;

                // Once the catalog holds a full sample, the model's embedding basis is fitted; later faces are stored in it.
                if (await basisSchedule.CommittedAsync(count, ct).ConfigureAwait(false) is { } basis)
                {
                    progress?.Report($"embedding basis {basis.Id} fitted on {basis.SampleFaces:N0} faces: {basis.Components} of {basis.Dimensions} directions");
                }

                if (added == options.Faces || Stopwatch.GetElapsedTime(lastReport).TotalSeconds >= 5)
                {
                    lastReport = Stopwatch.GetTimestamp();
                    progress?.Report($"synthetic faces: {added:N0}/{options.Faces:N0} ({added / clock.Elapsed.TotalSeconds:N0} faces/s)");
                }
            }
        }
        finally
        {
            if (indexing is not null)
            {
                var step = Stopwatch.GetTimestamp();
                await indexing.ConfigureAwait(false);
                waiting += Stopwatch.GetElapsedTime(step);
            }
        }

        var elapsed = clock.Elapsed;
        var stats = await catalog.GetStatsAsync(ct).ConfigureAwait(false);
        return new SyntheticGalleryResult(
            added, first, added == 0 ? 0 : lastIdentity - firstIdentity + 1, synthetic.Count + added, realFaces, generator.RealSample.Count, fit,
            fitElapsed, elapsed, generating, cataloguing, waiting, stats.Faces, index.Count);
    }

    /// <summary>
    /// Fits the synthetic face distribution to the catalog's real faces (as <see cref="AddAsync"/> does) and returns a
    /// generator of gallery faces and probes that writes nothing: for benchmarks that need vectors, not catalog rows
    /// (<c>lineup bench index</c>). The same seed and real faces give the same vectors as <see cref="AddAsync"/>.
    /// </summary>
    /// <exception cref="SyntheticGalleryException">Fewer than <see cref="MinimumRealFaces"/> real faces.</exception>
    public static async Task<Generator> FitAsync(
        ICatalog catalog, int dimensions, SyntheticGalleryOptions options, IProgress<string>? progress = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var existing = await catalog.FindCollectionAsync(CollectionName, ct).ConfigureAwait(false);
        var synthetic = existing is null ? FaceKeySet.Empty : await SyntheticFacesAsync(catalog, ct).ConfigureAwait(false);
        return await FitAsync(catalog, synthetic, dimensions, options, progress, ct).ConfigureAwait(false);
    }

    /// <summary>Samples the real faces (all but <paramref name="synthetic"/>) and fits the model to them.</summary>
    private static async Task<Generator> FitAsync(
        ICatalog catalog, FaceKeySet synthetic, int dimensions, SyntheticGalleryOptions options, IProgress<string>? progress, CancellationToken ct)
    {
        progress?.Report($"reading the real faces ({synthetic.Count:N0} synthetic faces are already catalogued)…");
        var (sample, realFaces) = await SampleRealFacesAsync(catalog, synthetic, dimensions, options.Seed, ct).ConfigureAwait(false);
        if (realFaces < MinimumRealFaces)
        {
            throw new SyntheticGalleryException(
                $"The catalog holds {realFaces:N0} real face(s); synthetic identities are fitted to the real faces and need at least " +
                $"{MinimumRealFaces}. Ingest real photos first (lineup ingest FOLDER --collection ...).");
        }

        progress?.Report($"fitting the face distribution to {sample.Count:N0} of {realFaces:N0} real faces…");
        var (model, fit) = await Task.Run(() => FaceModel.Fit(sample, dimensions, options.Seed), ct).ConfigureAwait(false);
        return new Generator(model, fit, options, sample, realFaces);
    }

    /// <summary>
    /// Draws synthetic gallery faces (face k of the seed's layout, as <see cref="AddAsync"/> numbers them) and probes
    /// (a new face of an existing identity, from a stream no gallery face uses). Thread-safe: draws are counter-based.
    /// </summary>
    public sealed class Generator
    {
        private readonly FaceModel _model;
        private readonly Shape _shape;
        private readonly SyntheticGalleryOptions _options;

        internal Generator(FaceModel model, SyntheticFitReport fit, SyntheticGalleryOptions options, List<float[]> realSample, long realFaces)
        {
            _model = model;
            _options = options;
            _shape = new Shape(model, options);
            Fit = fit;
            RealSample = realSample;
            RealFaces = realFaces;
        }

        public int Dimensions => _model.Dimensions;

        /// <summary>Turns planned faces into vectors; <see cref="AddAsync"/> draws through the same one.</summary>
        internal Shape Shape => _shape;

        /// <summary>How closely synthetic faces resemble held-out real ones.</summary>
        public SyntheticFitReport Fit { get; }

        /// <summary>The real faces fitted on (all of them, or a seeded sample of <see cref="MaxFitFaces"/>), unit vectors.</summary>
        public IReadOnlyList<float[]> RealSample { get; }

        /// <summary>Real faces in the catalog.</summary>
        public long RealFaces { get; }

        /// <summary>
        /// Writes gallery faces <paramref name="first"/> … first + count − 1 (unit vectors, end to end) into
        /// <paramref name="destination"/> and returns each face's identity.
        /// </summary>
        public long[] Faces(long first, int count, float[] destination)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(first);
            ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
            ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, count * Dimensions, nameof(destination));
            var plan = new Layout(_options.Seed, _options.MaxFacesPerIdentity, first).Take(count);
            _shape.Generate(plan, destination);
            return [.. plan.Select(p => p.Identity)];
        }

        /// <summary>
        /// Gallery faces <paramref name="first"/> … first + count − 1 as catalog images of <paramref name="collectionId"/>,
        /// exactly as <see cref="AddAsync"/> writes them (one face each, synthetic provenance).
        /// </summary>
        public List<NewImage> Images(long collectionId, long first, int count)
        {
            var plan = new Layout(_options.Seed, _options.MaxFacesPerIdentity, first).Take(count);
            var vectors = new float[count * Dimensions];
            _shape.Generate(plan, vectors);
            return SyntheticGallery.Images(collectionId, plan, vectors, Dimensions, _options.Seed);
        }

        /// <summary>
        /// Writes probe <paramref name="index"/> … (one per identity in <paramref name="identities"/>): a face of that identity
        /// drawn apart from its gallery faces, as a new photo of a catalogued person would be.
        /// </summary>
        public void Probes(ReadOnlySpan<long> identities, long index, float[] destination)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, identities.Length * Dimensions, nameof(destination));
            var plan = new PlannedFace[identities.Length];
            for (var i = 0; i < plan.Length; i++)
            {
                plan[i] = new PlannedFace(index + i, identities[i], 0);
            }

            _shape.Generate(plan, destination, ProbeStream);
        }
    }

    private static async Task<FaceKeySet> SyntheticFacesAsync(ICatalog catalog, CancellationToken ct) =>
        catalog is ISearchFilterCatalog filters
            ? await filters.ResolveAsync(new SearchFilter([CollectionName]).Normalize(), ct).ConfigureAwait(false)
            : throw new NotSupportedException("This catalog cannot tell synthetic faces from real ones (it resolves no search filters).");

    /// <summary>Every real face is read (and counted); a seeded reservoir keeps at most <see cref="MaxFitFaces"/> of them.</summary>
    private static async Task<(List<float[]> Sample, long Count)> SampleRealFacesAsync(
        ICatalog catalog, FaceKeySet synthetic, int dimensions, int seed, CancellationToken ct)
    {
        var sample = new List<float[]>();
        var random = new Random(unchecked((int)Mix((ulong)(uint)seed ^ SampleStream)));
        long count = 0;
        await foreach (var stored in catalog.ReadEmbeddingsAsync(0, ct).ConfigureAwait(false))
        {
            if (synthetic.Contains(stored.FaceId) || stored.Vector.Length != dimensions)
            {
                continue;
            }

            count++;
            if (sample.Count < MaxFitFaces)
            {
                sample.Add(stored.Vector);
            }
            else
            {
                var slot = random.NextInt64(count);
                if (slot < MaxFitFaces)
                {
                    sample[(int)slot] = stored.Vector;
                }
            }
        }

        return (sample, count);
    }

    private static List<NewImage> Images(long collectionId, PlannedFace[] plan, float[] vectors, int dimensions, int seed)
    {
        var box = new BoxF(0, 0, FaceAligner.CropSize, FaceAligner.CropSize);
        var landmarks = FaceAligner.Reference112;
        var images = new List<NewImage>(plan.Length);
        var key = Key(seed) ^ HashStream;
        for (var i = 0; i < plan.Length; i++)
        {
            var p = plan[i];
            var sha = new byte[32];
            for (var w = 0; w < 4; w++)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(sha.AsSpan(w * 8), Mix(key ^ Mix(((ulong)p.Number * 4) + (ulong)w)));
            }

            var face = new AnalyzedFace(box, 1f, landmarks, vectors.AsSpan(i * dimensions, dimensions).ToArray());
            images.Add(new NewImage(
                collectionId, sha, 0, Format, FaceAligner.CropSize, FaceAligner.CropSize,
                new Provenance(SourceUrl: SourceUrl(p.Identity, p.Face), Licence: LawfulBasis), [face]));
        }

        return images;
    }

    /// <summary>Face <see cref="Number"/> (over all calls) is face <see cref="Face"/> of identity <see cref="Identity"/>.</summary>
    internal readonly record struct PlannedFace(long Number, long Identity, int Face);

    /// <summary>
    /// The Gaussian of the real faces (mean and scaled centred basis rows) and its deviations μ-free: a deviation is
    /// Xcᵀw / √(n − 1), w ~ N(0, Iₙ) from (seed, stream, index).
    /// </summary>
    internal sealed class FaceModel
    {
        /// <summary>Vectors per block: they share each basis row while it is in cache (the basis is rows × 2 KB).</summary>
        private const int Block = 16;

        /// <summary>Vectors per parallel chunk: enough work to amortise scheduling, small enough to balance the cores.</summary>
        private const int Chunk = 64;

        private readonly float[] _basis;
        private readonly int _rows;
        private readonly ulong _key;

        private FaceModel(float[] mean, float[] basis, int rows, int seed)
        {
            Mean = mean;
            _basis = basis;
            _rows = rows;
            _key = Key(seed);
        }

        public float[] Mean { get; }

        public int Dimensions => Mean.Length;

        /// <summary>
        /// Pseudo-identities by linking (union–find over every pair at cosine ≥ <see cref="LinkCosine"/>), groups dealt in a
        /// seeded order to the smaller half; the Gaussian of one half, measured against the other half's cross-group pairs.
        /// </summary>
        public static (FaceModel Model, SyntheticFitReport Report) Fit(List<float[]> faces, int dimensions, int seed)
        {
            var (groupOf, groups) = PseudoIdentities(faces);
            var order = Enumerable.Range(0, groups).ToArray();
            new Random(seed).Shuffle(order);
            var members = Enumerable.Range(0, faces.Count).GroupBy(i => groupOf[i]).ToDictionary(g => g.Key, g => g.ToList());
            var (basis, heldOut) = (new List<int>(), new List<int>());
            foreach (var g in order)
            {
                (basis.Count <= heldOut.Count ? basis : heldOut).AddRange(members[g]);
            }

            var d = dimensions;
            var mean = new float[d];
            foreach (var i in basis)
            {
                TensorPrimitives.Add(mean, faces[i], mean);
            }

            TensorPrimitives.Divide(mean, basis.Count, mean);

            // Scaled so that Σ w_r b_r has the sample covariance (divisor n − 1: μ comes from the same rows).
            var scale = (float)(1 / Math.Sqrt(basis.Count - 1));
            var rows = new float[basis.Count * d];
            for (var r = 0; r < basis.Count; r++)
            {
                var row = rows.AsSpan(r * d, d);
                TensorPrimitives.Subtract(faces[basis[r]], mean, row);
                TensorPrimitives.Multiply(row, scale, row);
            }

            var model = new FaceModel(mean, rows, basis.Count, seed);
            return (model, model.Measure(faces, heldOut, groupOf, groups));
        }

        /// <summary>Writes the deviations of draws firstIndex … firstIndex + count − 1 of <paramref name="stream"/>.</summary>
        public void Deviations(ulong stream, long firstIndex, int count, Span<float> destination)
        {
            var d = Dimensions;
            var weights = ArrayPool<float>.Shared.Rent(Block * _rows);
            try
            {
                for (var start = 0; start < count; start += Block)
                {
                    var size = Math.Min(Block, count - start);
                    for (var j = 0; j < size; j++)
                    {
                        FillNormals(weights.AsSpan(j * _rows, _rows), _key ^ Mix(stream), (ulong)(firstIndex + start + j));
                    }

                    var block = destination.Slice(start * d, size * d);
                    block.Clear();
                    for (var r = 0; r < _rows; r++)
                    {
                        var row = _basis.AsSpan(r * d, d);
                        for (var j = 0; j < size; j++)
                        {
                            var v = block.Slice(j * d, d);
                            TensorPrimitives.MultiplyAdd(row, weights[(j * _rows) + r], v, v);
                        }
                    }
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(weights);
            }
        }

        /// <summary><see cref="Deviations"/> over the cores, in chunks of <see cref="Chunk"/> draws (the result does not depend on them).</summary>
        public void DeviationsParallel(ulong stream, long firstIndex, int count, float[] destination)
        {
            var d = Dimensions;
            Parallel.For(0, (count + Chunk - 1) / Chunk, chunk =>
            {
                var start = chunk * Chunk;
                var size = Math.Min(Chunk, count - start);
                Deviations(stream, firstIndex + start, size, destination.AsSpan(start * d, size * d));
            });
        }

        private static (int[] GroupOf, int Groups) PseudoIdentities(List<float[]> faces)
        {
            var n = faces.Count;
            var links = new List<int>[n];
            Parallel.For(0, n, i =>
            {
                List<int>? found = null;
                for (var j = i + 1; j < n; j++)
                {
                    if (TensorPrimitives.Dot(faces[i], faces[j]) >= LinkCosine)
                    {
                        (found ??= []).Add(j);
                    }
                }

                links[i] = found ?? [];
            });

            var parent = Enumerable.Range(0, n).ToArray();
            int Find(int x)
            {
                while (parent[x] != x)
                {
                    parent[x] = parent[parent[x]];
                    x = parent[x];
                }

                return x;
            }

            for (var i = 0; i < n; i++)
            {
                foreach (var j in links[i])
                {
                    parent[Find(i)] = Find(j);
                }
            }

            // Groups numbered by their first face, so the numbering depends only on the faces' order.
            var groupOf = new int[n];
            var numbers = new Dictionary<int, int>();
            for (var i = 0; i < n; i++)
            {
                var root = Find(i);
                if (!numbers.TryGetValue(root, out var number))
                {
                    number = numbers.Count;
                    numbers[root] = number;
                }

                groupOf[i] = number;
            }

            return (groupOf, numbers.Count);
        }

        /// <summary>Synthetic faces (marginal draws) against held-out real faces, next to the real impostor pairs among those.</summary>
        private SyntheticFitReport Measure(List<float[]> faces, List<int> heldOut, int[] groupOf, int groups)
        {
            var d = Dimensions;
            var real = new List<double>[heldOut.Count];
            Parallel.For(0, heldOut.Count, a =>
            {
                var scores = new List<double>(heldOut.Count - a);
                for (var b = a + 1; b < heldOut.Count; b++)
                {
                    if (groupOf[heldOut[a]] != groupOf[heldOut[b]])
                    {
                        scores.Add(TensorPrimitives.Dot(faces[heldOut[a]], faces[heldOut[b]]));
                    }
                }

                real[a] = scores;
            });

            var drawn = new float[ReportFaces * d];
            DeviationsParallel(ReportStream, 0, ReportFaces, drawn);
            for (var k = 0; k < ReportFaces; k++)
            {
                var v = drawn.AsSpan(k * d, d);
                TensorPrimitives.Add(v, Mean, v);
                TensorPrimitives.Divide(v, TensorPrimitives.Norm(v), v);
            }

            var synthetic = new double[ReportFaces * heldOut.Count];
            var strangers = new double[ReportFaces];
            Parallel.For(0, ReportFaces, k =>
            {
                var v = drawn.AsSpan(k * d, d);
                for (var f = 0; f < heldOut.Count; f++)
                {
                    synthetic[(k * heldOut.Count) + f] = TensorPrimitives.Dot(v, faces[heldOut[f]]);
                }

                double sum = 0;
                for (var other = k + 1; other < ReportFaces; other++)
                {
                    sum += TensorPrimitives.Dot(v, drawn.AsSpan(other * d, d));
                }

                strangers[k] = sum;
            });

            var realSorted = real.SelectMany(s => s).Order().ToArray();
            Array.Sort(synthetic);
            return new SyntheticFitReport(
                faces.Count - heldOut.Count,
                heldOut.Count,
                groups,
                SyntheticDistractors.KolmogorovSmirnov(realSorted, synthetic),
                realSorted.Average(),
                synthetic.Average(),
                s_reportLevels.Select(level => new DistractorQuantile(level, Quantile(realSorted, level), Quantile(synthetic, level))).ToArray(),
                strangers.Sum() / (ReportFaces * (ReportFaces - 1) / 2.0),
                realSorted.Length,
                synthetic.Length);
        }

        private static double Quantile(double[] sorted, double level) => sorted[(int)Math.Floor(level * (sorted.Length - 1))];
    }

    /// <summary>
    /// Which identity each face belongs to: identity i has 1 + (hash(seed, i) mod max) faces, in order. Starting at face
    /// <c>start</c> walks the layout from identity 0 (a hash per identity: 3.3M at 10M faces, well under a second).
    /// </summary>
    internal sealed class Layout
    {
        private readonly ulong _key;
        private readonly int _max;
        private int _size;
        private int _faceInIdentity;

        public Layout(int seed, int max, long start)
        {
            _key = Key(seed) ^ SizeStream;
            _max = max;
            _size = SizeOf(0);
            Face = start;
            long before = 0;
            while (before + _size <= start)
            {
                before += _size;
                Identity++;
                _size = SizeOf(Identity);
            }

            _faceInIdentity = (int)(start - before);
        }

        /// <summary>The next face's number.</summary>
        public long Face { get; private set; }

        /// <summary>The next face's identity.</summary>
        public long Identity { get; private set; }

        public PlannedFace[] Take(int count)
        {
            var plan = new PlannedFace[count];
            for (var i = 0; i < count; i++)
            {
                plan[i] = new PlannedFace(Face++, Identity, _faceInIdentity++);
                if (_faceInIdentity == _size)
                {
                    Identity++;
                    _faceInIdentity = 0;
                    _size = SizeOf(Identity);
                }
            }

            return plan;
        }

        private int SizeOf(long identity) => 1 + (int)(Mix(_key ^ Mix((ulong)identity)) % (ulong)_max);
    }

    /// <summary>Turns planned faces into unit vectors: normalise(μ + cos θ · u_c + sin θ · u_e⊥).</summary>
    internal sealed class Shape(FaceModel model, SyntheticGalleryOptions options)
    {
        private readonly double _theta0 = Math.Acos(Math.Sqrt(options.WithinIdentityCosine));
        private readonly ulong _key = Key(options.Seed) ^ AngleStream;

        /// <summary>Faces of consecutive plan numbers: a gallery batch (identities consecutive, ascending) or probes (any identities).</summary>
        public void Generate(PlannedFace[] plan, float[] destination, ulong stream = FaceStream)
        {
            var d = model.Dimensions;
            var firstIdentity = plan[0].Identity;
            model.DeviationsParallel(stream, plan[0].Number, plan.Length, destination);
            if (stream == FaceStream)
            {
                var centres = new float[(int)(plan[^1].Identity - firstIdentity + 1) * d];
                model.DeviationsParallel(CentreStream, firstIdentity, centres.Length / d, centres);
                Parallel.For(0, plan.Length, i =>
                    Combine(centres.AsSpan((int)(plan[i].Identity - firstIdentity) * d, d), destination.AsSpan(i * d, d), plan[i].Number, stream));
                return;
            }

            // Scattered identities (probes): each centre drawn on its own (the same draw a gallery batch makes for it).
            Parallel.For(0, plan.Length, () => new float[d], (i, _, centre) =>
            {
                model.Deviations(CentreStream, plan[i].Identity, 1, centre);
                Combine(centre, destination.AsSpan(i * d, d), plan[i].Number, stream);
                return centre;
            }, _ => { });
        }

        /// <summary>Writes the face over its own deviation <paramref name="face"/>; θ ~ N(θ₀, σ²), folded at 0.</summary>
        private void Combine(ReadOnlySpan<float> centre, Span<float> face, long number, ulong stream)
        {
            // Gallery faces keep their angle draw (stream 2 adds nothing to the key); probes draw theirs apart.
            var key = stream == FaceStream ? _key : _key ^ Mix(stream);
            var theta = Math.Abs(_theta0 + (options.WithinIdentityAngleSpread * Normal(key, (ulong)number)));
            var length = TensorPrimitives.Norm(face);
            var centreNorm2 = TensorPrimitives.Dot(centre, centre);
            if (centreNorm2 > 0)
            {
                // u_e⊥ = u_e − (u_e·u_c / |u_c|²) u_c, brought back to |u_e|: a deviation of its own length at right angles to the centre's.
                TensorPrimitives.MultiplyAdd(centre, -TensorPrimitives.Dot(face, centre) / centreNorm2, face, face);
                var orthogonal = TensorPrimitives.Norm(face);
                TensorPrimitives.Multiply(face, orthogonal > 0 ? (float)(Math.Sin(theta) * length / orthogonal) : 0f, face);
            }

            TensorPrimitives.MultiplyAdd(centre, (float)Math.Cos(theta), face, face);
            TensorPrimitives.Add(face, model.Mean, face);
            TensorPrimitives.Divide(face, TensorPrimitives.Norm(face), face);
        }
    }

    /// <summary>Standard normals for one draw: SplitMix64 from a state keyed by (key, index), Box–Muller.</summary>
    private static void FillNormals(Span<float> destination, ulong key, ulong index)
    {
        const double Unit = 1.0 / (1UL << 53);
        var state = Mix(key ^ Mix(index));
        for (var i = 0; i < destination.Length; i += 2)
        {
            state += Golden;
            var u1 = ((Mix(state) >> 11) + 1) * Unit;
            state += Golden;
            var u2 = (Mix(state) >> 11) * Unit;
            var radius = Math.Sqrt(-2 * Math.Log(u1));
            var (sin, cos) = Math.SinCos(2 * Math.PI * u2);
            destination[i] = (float)(radius * cos);
            if (i + 1 < destination.Length)
            {
                destination[i + 1] = (float)(radius * sin);
            }
        }
    }

    /// <summary>One standard normal from (key, index).</summary>
    private static double Normal(ulong key, ulong index)
    {
        Span<float> one = stackalloc float[1];
        FillNormals(one, key, index);
        return one[0];
    }

    private static ulong Key(int seed) => Mix((ulong)(uint)seed ^ 0xC0FFEE5EEDUL);

    /// <summary>SplitMix64's finaliser (Steele, Lea and Flood 2014).</summary>
    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
