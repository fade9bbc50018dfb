namespace Lineup.Index.Ivf;

/// <summary>Settings of an <see cref="IvfVectorIndex"/>. Only <see cref="Dimensions"/> is fixed by a saved index; the rest apply at run time.</summary>
public sealed record IvfOptions
{
    public int Dimensions { get; init; } = 512;

    /// <summary>
    /// Lists (k-means cells) the gallery is cut into. Null (the default) follows the size: about √faces, re-trained each
    /// time the gallery has grown enough for twice as many (<see cref="IvfVectorIndex.ListsFor"/>).
    /// </summary>
    public int? Lists { get; init; }

    /// <summary>Lists scanned per search. Null (the default) follows the list count (<see cref="IvfVectorIndex.ProbesFor"/>).</summary>
    public int? Probes { get; init; }

    /// <summary>Threads of training and of bulk adds (searches run on their callers' threads).</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <summary>
    /// Threads one search scans its lists on (1 or 2), once it has at least 16,384 codes to read: the scan is bound by
    /// memory bandwidth, and a second core reads alongside the first. The second thread is one shared scan thread,
    /// taken by one search at a time; a search that finds it busy scans alone. Default: 2 where there are two cores.
    /// </summary>
    public int ScanThreads { get; init; } = Math.Min(2, Environment.ProcessorCount);

    /// <summary>Seed of the k-means start, so a rebuild from the same catalog cuts the same lists.</summary>
    public int Seed { get; init; } = 1;

    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(Dimensions, 1, nameof(Dimensions));
        if (Lists is { } lists)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(lists, 1, nameof(Lists));
            ArgumentOutOfRangeException.ThrowIfGreaterThan(lists, IvfVectorIndex.MaxLists, nameof(Lists));
        }

        if (Probes is { } probes)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(probes, 1, nameof(Probes));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(Threads, 1, nameof(Threads));
        ArgumentOutOfRangeException.ThrowIfLessThan(ScanThreads, 1, nameof(ScanThreads));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ScanThreads, 2, nameof(ScanThreads));
    }
}
