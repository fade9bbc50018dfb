using Lineup.Index.Ivf;

namespace Lineup.Index;

/// <summary>An index <see cref="FaceIndexStore"/> can keep on disk beside the catalog.</summary>
public interface IStoredVectorIndex : Core.Indexing.IVectorIndex
{
    /// <summary>Tells the index how many vectors a bulk build will add.</summary>
    void Reserve(long count);

    /// <summary>Writes the index to <paramref name="path"/>; returns the vectors written.</summary>
    long Save(string path);
}

/// <summary>
/// One kind of on-disk index as <see cref="FaceIndexStore"/> sees it: its files, what its metadata must match, and how
/// to create and open one. The usearch graph keeps <c>faces.usearch</c> and <c>faces.meta.json</c>; the inverted file
/// <c>faces.ivf</c> and <c>faces.ivf.meta.json</c>, so each metadata file describes only its own index.
/// </summary>
public sealed class StoredIndexFormat
{
    private readonly Func<IStoredVectorIndex> _create;
    private readonly Func<string, IStoredVectorIndex> _open;

    private StoredIndexFormat(
        string engine, string fileName, string metaFileName, int dimensions, VectorQuantization quantization,
        Func<IStoredVectorIndex> create, Func<string, IStoredVectorIndex> open)
    {
        Engine = engine;
        FileName = fileName;
        MetaFileName = metaFileName;
        Dimensions = dimensions;
        Quantization = quantization;
        _create = create;
        _open = open;
    }

    /// <summary>Every engine's file names, so opening one can remove another's stale files (<see cref="RemoveOthers"/>).</summary>
    private static readonly (string Engine, string File, string Meta)[] s_all =
    [
        ("usearch", FaceIndexStore.IndexFileName, FaceIndexStore.MetaFileName),
        ("ivf", "faces.ivf", "faces.ivf.meta.json"),
    ];

    /// <summary>"usearch" or "ivf".</summary>
    public string Engine { get; }

    public string FileName { get; }

    public string MetaFileName { get; }

    public int Dimensions { get; }

    public VectorQuantization Quantization { get; }

    public static StoredIndexFormat USearch(USearchOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return new StoredIndexFormat(
            "usearch", FaceIndexStore.IndexFileName, FaceIndexStore.MetaFileName, options.Dimensions, options.Quantization,
            () => new USearchVectorIndex(options), path => USearchVectorIndex.Open(path, options));
    }

    public static StoredIndexFormat Ivf(IvfOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var (_, file, meta) = s_all[1];
        return new StoredIndexFormat(
            "ivf", file, meta, options.Dimensions, VectorQuantization.I8,
            () => new IvfVectorIndex(options), path => IvfVectorIndex.Open(path, options));
    }

    public string IndexPath(string indexDir) => Path.Combine(indexDir, FileName);

    public string MetaPath(string indexDir) => Path.Combine(indexDir, MetaFileName);

    internal IStoredVectorIndex Create() => _create();

    internal IStoredVectorIndex Open(string path) => _open(path);

    /// <summary>
    /// Deletes the files of the other engines in <paramref name="indexDir"/>: after a switch of engine they would only
    /// keep embeddings that later erasures no longer reach. Returns the files removed.
    /// </summary>
    public IReadOnlyList<string> RemoveOthers(string indexDir)
    {
        var removed = new List<string>();
        foreach (var (engine, file, meta) in s_all)
        {
            if (engine == Engine)
            {
                continue;
            }

            foreach (var path in new[] { Path.Combine(indexDir, meta), Path.Combine(indexDir, file) })
            {
                if (File.Exists(path))
                {
                    File.Delete(path);
                    removed.Add(path);
                }
            }
        }

        return removed;
    }
}
