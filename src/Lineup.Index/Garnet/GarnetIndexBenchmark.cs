using System.Diagnostics;
using System.Globalization;
using Lineup.Core.Indexing;
using Lineup.Core.Numerics;

namespace Lineup.Index.Garnet;

/// <summary>Recall and latency of one search breadth (VSIM EF).</summary>
public sealed record GarnetEfMeasurement(int SearchEf, double RecallAt10, double P50Ms, double P99Ms);

/// <summary>
/// What <see cref="GarnetIndexBenchmark.RunAsync"/> measured. Recall@10 is against exact search over the same vectors in
/// the same run; latencies are of the whole fanned-out search (k = 10, one query at a time); the insert rate is wall-clock
/// over the batch add; <see cref="ExactSearchMs"/> is the mean single-threaded exact scan per query (the baseline).
/// </summary>
public sealed record GarnetBenchmarkResult(
    int Faces,
    int Queries,
    int Dimensions,
    int Shards,
    int Primaries,
    GarnetQuantisation Quantisation,
    int BuildEf,
    int Links,
    int SearchEf,
    double RecallAt10,
    double P50Ms,
    double P99Ms,
    double InsertsPerSecond,
    double ExactSearchMs,
    IReadOnlyList<GarnetEfMeasurement> Sweep)
{
    /// <summary>Growth of the primaries' resident memory while the faces were added, per face (null when not measured).</summary>
    public double? PrimaryBytesPerFace { get; init; }

    /// <summary>The same over every node, replicas included.</summary>
    public double? ClusterBytesPerFace { get; init; }
}

/// <summary>
/// Builds an index of <c>faces</c> clustered synthetic unit vectors (about 100 per centre, cosine ≈ 0.7 to the centre: a
/// crowd of near-ties, the hard case for a graph index) and measures insert rate, recall@10 against
/// <see cref="ExactVectorIndex"/> and search latency, at <see cref="GarnetIndexOptions.SearchEf"/> and at each extra
/// breadth asked for. Runs under the options' key prefix, which must be empty; the keys are deleted afterwards.
/// </summary>
public static class GarnetIndexBenchmark
{
    private const int K = 10;
    private const int WarmupQueries = 20;

    public static async Task<GarnetBenchmarkResult> RunAsync(
        GarnetIndexOptions options,
        int faces,
        int queries,
        int seed,
        IProgress<string>? progress = null,
        IReadOnlyList<int>? sweepSearchEf = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(faces, K);
        ArgumentOutOfRangeException.ThrowIfLessThan(queries, 1);
        var d = options.Dimensions;
        var random = new Random(seed);
        var clusters = Math.Max(1, faces / 100);
        progress?.Report($"generating {faces:N0} × {d} vectors around {clusters:N0} centres and {queries:N0} queries");
        var centres = new float[clusters * d];
        for (var c = 0; c < clusters; c++)
        {
            Unit(random, centres.AsSpan(c * d, d));
        }

        var data = new float[(long)faces * d];
        for (var i = 0; i < faces; i++)
        {
            Near(random, centres.AsSpan((i % clusters) * d, d), data.AsSpan(i * d, d));
        }

        var queryData = new float[queries * d];
        for (var q = 0; q < queries; q++)
        {
            Near(random, centres.AsSpan(random.Next(clusters) * d, d), queryData.AsSpan(q * d, d));
        }

        await using var index = await GarnetVectorIndex.ConnectAsync(options, cancellationToken).ConfigureAwait(false);
        if (await index.CountAsync(cancellationToken).ConfigureAwait(false) > 0)
        {
            throw new InvalidOperationException(
                $"Key prefix '{options.KeyPrefix}' already holds faces; the benchmark deletes its keys afterwards, so give it an unused prefix.");
        }

        try
        {
            var primaries = (await index.ShardStatusAsync(cancellationToken).ConfigureAwait(false))
                .Select(s => s.Node).Distinct().Count();

            progress?.Report($"adding {faces:N0} faces to {options.Shards} shards on {primaries} primaries");
            var memoryBefore = await index.NodeMemoryAsync(cancellationToken).ConfigureAwait(false);
            var clock = Stopwatch.StartNew();
            const int Batch = 5000;
            for (var start = 0; start < faces; start += Batch)
            {
                var end = Math.Min(faces, start + Batch);
                await index.AddRangeAsync(
                    Enumerable.Range(start, end - start).Select(i =>
                        ((long)i + 1, data.AsSpan(i * d, d).ToArray(), (long)(i % 20), (string?)(i % 2 == 0 ? "GB" : "FR"))),
                    cancellationToken).ConfigureAwait(false);
                progress?.Report(string.Create(CultureInfo.InvariantCulture,
                    $"  {end:N0} added, {end / clock.Elapsed.TotalSeconds:F0}/s"));
            }

            var insertsPerSecond = faces / clock.Elapsed.TotalSeconds;
            var memoryAfter = await index.NodeMemoryAsync(cancellationToken).ConfigureAwait(false);
            double? Growth(bool primariesOnly)
            {
                var before = memoryBefore.Where(n => !primariesOnly || !n.IsReplica).ToDictionary(n => n.Node, n => n.PhysicalBytes);
                var after = memoryAfter.Where(n => (!primariesOnly || !n.IsReplica) && before.ContainsKey(n.Node)).ToList();
                return after.Count == 0 ? null : after.Sum(n => n.PhysicalBytes - before[n.Node]) / (double)faces;
            }

            progress?.Report("exact search baseline");
            var truth = new long[queries][];
            double exactMs;
            using (var exact = new ExactVectorIndex(d, faces))
            {
                exact.AddRange(Enumerable.Range(1, faces).Select(i => (long)i).ToArray(), data);
                var hits = new VectorHit[K];
                clock.Restart();
                for (var q = 0; q < queries; q++)
                {
                    var n = exact.Search(queryData.AsSpan(q * d, d), hits);
                    truth[q] = hits[..n].Select(h => h.Key).ToArray();
                }

                exactMs = clock.Elapsed.TotalMilliseconds / queries;
            }

            var measured = await MeasureAsync(index, queryData, truth, d, cancellationToken).ConfigureAwait(false);
            progress?.Report(Describe(measured));
            var sweep = new List<GarnetEfMeasurement> { measured };
            foreach (var ef in sweepSearchEf ?? [])
            {
                if (ef == options.SearchEf)
                {
                    continue;
                }

                await using var other = await GarnetVectorIndex.ConnectAsync(options with { SearchEf = ef }, cancellationToken).ConfigureAwait(false);
                var point = await MeasureAsync(other, queryData, truth, d, cancellationToken).ConfigureAwait(false);
                progress?.Report(Describe(point));
                sweep.Add(point);
            }

            sweep.Sort((a, b) => a.SearchEf.CompareTo(b.SearchEf));
            return new GarnetBenchmarkResult(
                faces, queries, d, options.Shards, primaries, options.Quantisation, options.BuildEf, options.Links, options.SearchEf,
                measured.RecallAt10, measured.P50Ms, measured.P99Ms, insertsPerSecond, exactMs, sweep)
            {
                PrimaryBytesPerFace = Growth(primariesOnly: true),
                ClusterBytesPerFace = Growth(primariesOnly: false),
            };
        }
        finally
        {
            await index.ClearAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    private static async Task<GarnetEfMeasurement> MeasureAsync(
        GarnetVectorIndex index, float[] queryData, long[][] truth, int d, CancellationToken cancellationToken)
    {
        var queries = truth.Length;
        for (var q = 0; q < Math.Min(WarmupQueries, queries); q++)
        {
            await index.SearchAsync(queryData.AsMemory(q * d, d), K, cancellationToken: cancellationToken).ConfigureAwait(false);
        }

        var latencies = new double[queries];
        var found = 0L;
        var expected = 0L;
        for (var q = 0; q < queries; q++)
        {
            var started = Stopwatch.GetTimestamp();
            var result = await index.SearchAsync(queryData.AsMemory(q * d, d), K, cancellationToken: cancellationToken).ConfigureAwait(false);
            latencies[q] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            if (!result.IsComplete)
            {
                throw new VectorIndexException($"Shard(s) {string.Join(", ", result.MissingShards)} did not answer during the benchmark.");
            }

            var exact = truth[q];
            expected += exact.Length;
            found += result.Hits.Count(h => Array.IndexOf(exact, h.Key) >= 0);
        }

        Array.Sort(latencies);
        return new GarnetEfMeasurement(
            index.Options.SearchEf,
            (double)found / expected,
            Percentile(latencies, 0.50),
            Percentile(latencies, 0.99));
    }

    private static string Describe(GarnetEfMeasurement m) => string.Create(CultureInfo.InvariantCulture,
        $"  EF {m.SearchEf}: recall@10 {m.RecallAt10:F3}, p50 {m.P50Ms:F2} ms, p99 {m.P99Ms:F2} ms");

    private static double Percentile(double[] sorted, double p) =>
        sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];

    private static void Unit(Random random, Span<float> v)
    {
        for (var i = 0; i < v.Length; i++)
        {
            v[i] = Gaussian(random);
        }

        VectorMath.Normalize(v);
    }

    private static void Near(Random random, ReadOnlySpan<float> centre, Span<float> v)
    {
        var scale = 1f / MathF.Sqrt(centre.Length);
        for (var i = 0; i < v.Length; i++)
        {
            v[i] = centre[i] + (scale * Gaussian(random));
        }

        VectorMath.Normalize(v);
    }

    private static float Gaussian(Random random)
    {
        // Box-Muller; 1 - u keeps the log argument in (0, 1].
        var u1 = 1.0 - random.NextDouble();
        var u2 = random.NextDouble();
        return (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
    }
}
