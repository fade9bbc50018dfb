using Lineup.Core.Indexing;
using Lineup.Index.Garnet;

namespace Lineup.Index.Tests;

/// <summary>
/// The index contract against the shared Garnet cluster (<see cref="GarnetTestCluster"/>): every index the contract
/// creates gets a key prefix of its own, deleted when the test ends.
/// </summary>
public sealed class GarnetVectorIndexContract : VectorIndexContract
{
    private readonly List<GarnetTestKeys> _keys = [];

    // NOQUANT: distances are exact float32, so the reported similarity matches the exact cosine closely.
    protected override float SimilarityTolerance => 1e-4f;

    protected override IVectorIndex Create(int dimensions)
    {
        var keys = GarnetTestCluster.CreateKeysAsync().GetAwaiter().GetResult();
        _keys.Add(keys);
        return GarnetVectorIndex.ConnectAsync(new GarnetIndexOptions
        {
            Endpoints = keys.Endpoints,
            KeyPrefix = keys.Prefix,
            Dimensions = dimensions,

            // The contract's concurrency test keeps seven threads of synchronous calls in flight against nodes that share
            // two cores with the other test assemblies; a clean-clone CI run here once saw one VADD wait 5 s (the
            // default). A stall of the machine is not what the contract tests.
            SyncTimeout = TimeSpan.FromSeconds(30),
        }).GetAwaiter().GetResult();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            foreach (var keys in _keys)
            {
                keys.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        }

        base.Dispose(disposing);
    }
}
