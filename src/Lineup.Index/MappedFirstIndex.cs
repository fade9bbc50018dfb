using Lineup.Core.Indexing;

namespace Lineup.Index;

/// <summary>
/// A saved index that answers searches from the moment it opens: searches go to a memory-mapped view of the file
/// (29 ms at 300k float16 faces, most of it USearch reading the node table) while a writable copy loads in the
/// background (340 ms at 300k, about 1 s per million on a quiet machine), and switch to the copy once it is in memory. The first add or
/// remove waits for the copy. Both hold the same vectors, so a search gets the same answer from either.
/// </summary>
/// <remarks>
/// Only an index that needs no catch-up is opened this way (<see cref="FaceIndexStore.OpenAndSyncAsync(Core.Catalog.ICatalog, string, StoredIndexFormat, IProgress{IndexSyncProgress}?, CancellationToken)"/>): the view
/// cannot take the faces catalogued since the save. If the background load fails, searches stay on the view and every
/// mutation throws the load's error, so nothing is half-applied. While both exist, the file is in the page cache and
/// its copy on the heap.
/// </remarks>
public sealed class MappedFirstIndex : IVectorIndex
{
    private readonly ReaderWriterLockSlim _switch = new(LockRecursionPolicy.NoRecursion);
    private readonly Task<USearchVectorIndex> _loading;
    private USearchVectorIndex _current;
    private USearchVectorIndex? _view;
    private bool _disposed;

    /// <summary>Takes ownership of <paramref name="view"/> and starts loading <paramref name="path"/> beside it.</summary>
    internal MappedFirstIndex(USearchVectorIndex view, string path, USearchOptions options, Func<string, USearchOptions, USearchVectorIndex>? load = null)
    {
        if (!view.IsReadOnly)
        {
            throw new ArgumentException("The first index must be a view.", nameof(view));
        }

        _current = view;
        _view = view;
        load ??= static (p, o) => USearchVectorIndex.Open(p, o);
        _loading = Task.Run(() => load(path, options));
        _ = _loading.ContinueWith(_ => Settle(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    public int Dimensions => Read(static i => i.Dimensions);

    public long Count => Read(static i => i.Count);

    /// <summary>True once searches run on the writable copy.</summary>
    public bool IsLoaded
    {
        get
        {
            _switch.EnterReadLock();
            try
            {
                return _view is null;
            }
            finally
            {
                _switch.ExitReadLock();
            }
        }
    }

    /// <summary>The writable copy, waiting for it to finish loading; throws the load's error when it failed.</summary>
    public USearchVectorIndex Writable
    {
        get
        {
            USearchVectorIndex loaded;
            try
            {
                loaded = _loading.GetAwaiter().GetResult();
            }
            catch (Exception ex) when (ex is not ObjectDisposedException)
            {
                throw new VectorIndexException($"The saved index could not be loaded for writing (searches still use its mapped view): {ex.Message}", ex);
            }

            Settle();
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed), this);
            return loaded;
        }
    }

    public void Add(long key, ReadOnlySpan<float> vector) => Writable.Add(key, vector);

    public void AddRange(ReadOnlySpan<long> keys, ReadOnlySpan<float> vectors) => Writable.AddRange(keys, vectors);

    public bool Remove(long key) => Writable.Remove(key);

    public bool Contains(long key) => Read(i => i.Contains(key));

    // The searches take spans, which a delegate cannot capture: they hold the switch lock themselves.
    public int Search(ReadOnlySpan<float> query, Span<VectorHit> results)
    {
        _switch.EnterReadLock();
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _current.Search(query, results);
        }
        finally
        {
            _switch.ExitReadLock();
        }
    }

    public int Search(ReadOnlySpan<float> query, Span<VectorHit> results, FaceKeySet allowed)
    {
        _switch.EnterReadLock();
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _current.Search(query, results, allowed);
        }
        finally
        {
            _switch.ExitReadLock();
        }
    }

    /// <summary>
    /// Releases the index in use at once. A copy still loading is released when its load ends (a native load cannot be
    /// interrupted), so a process that answered one search from the view does not wait for the copy to exit.
    /// </summary>
    public void Dispose()
    {
        _switch.EnterWriteLock();
        try
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _current.Dispose();
        }
        finally
        {
            _switch.ExitWriteLock();
        }
    }

    /// <summary>
    /// Once the load has succeeded: moves searches to the copy (in-flight searches on the view finish first), or releases
    /// the copy when this index was disposed while it loaded. Runs when the load ends and from <see cref="Writable"/>,
    /// whichever comes first; the second call finds nothing left to do.
    /// </summary>
    private void Settle()
    {
        if (!_loading.IsCompletedSuccessfully)
        {
            return;
        }

        var loaded = _loading.Result;
        USearchVectorIndex? release = null;
        _switch.EnterWriteLock();
        try
        {
            if (_disposed)
            {
                // Dispose released whichever index was current; a copy that never became current is released here.
                release = ReferenceEquals(_current, loaded) ? null : loaded;
            }
            else if (_view is not null)
            {
                release = _view;
                _current = loaded;
                _view = null;
            }
        }
        finally
        {
            _switch.ExitWriteLock();
        }

        release?.Dispose();
    }

    private T Read<T>(Func<USearchVectorIndex, T> read)
    {
        _switch.EnterReadLock();
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return read(_current);
        }
        finally
        {
            _switch.ExitReadLock();
        }
    }
}
