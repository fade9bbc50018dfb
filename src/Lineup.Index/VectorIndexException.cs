namespace Lineup.Index;

/// <summary>
/// An index could not be created, read or written: a native USearch error, a corrupt or truncated file, or a file
/// built with other settings. The index is derived data, so callers usually answer this by rebuilding from the catalog.
/// </summary>
public sealed class VectorIndexException(string message, Exception? inner = null) : Exception(message, inner);
