namespace Lineup.Hosting;

/// <summary>The network analysis part of the engine (<see cref="NetworkAnalysis"/>).</summary>
public sealed partial class LineupEngine
{
    private NetworkAnalysis? _network;

    /// <summary>Identity clustering and the co-appearance queries over this engine's catalog and index.</summary>
    public NetworkAnalysis Network => LazyInitializer.EnsureInitialized(ref _network, () => new NetworkAnalysis(this));
}
