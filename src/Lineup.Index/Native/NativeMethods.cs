using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Lineup.Index.Native;

/// <summary>
/// P/Invoke over the C API of USearch (<c>libusearch_c</c>, shipped in NuGet <c>Cloud.Unum.USearch</c> 2.26.6 under
/// <c>runtimes/&lt;rid&gt;/native</c>). Declarations follow <c>c/usearch.h</c> of unum-cloud/usearch v2.x; the enum values
/// and the 64-byte options layout were checked against the shipped binary (serialized length per scalar kind).
/// The managed wrapper in the same package lacks reserve, expansion and thread settings and pointer overloads.
/// Every function reports failure through <c>usearch_error_t* error</c> (<c>const char**</c>, static storage: not freed).
/// </summary>
internal static partial class NativeMethods
{
    private const string Library = "libusearch_c";

    // usearch_metric_kind_t
    internal const int MetricCos = 1;

    // usearch_scalar_kind_t
    internal const int ScalarF32 = 1;
    internal const int ScalarF16 = 3;
    internal const int ScalarI8 = 4;

    /// <summary><c>usearch_init_options_t</c>: enum (4, padded to 8), pointer, enum (padded), four size_t, bool.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct InitOptions
    {
        public int MetricKind;
        public nint Metric;
        public int Quantization;
        public nuint Dimensions;
        public nuint Connectivity;
        public nuint ExpansionAdd;
        public nuint ExpansionSearch;
        /// <summary>C <c>bool</c> (one byte); a byte keeps the struct blittable for source-generated marshalling.</summary>
        public byte Multi;
    }

    [LibraryImport(Library, EntryPoint = "usearch_version")]
    internal static partial nint Version();

    [LibraryImport(Library, EntryPoint = "usearch_init")]
    internal static partial UsearchHandle Init(ref InitOptions options, out nint error);

    [LibraryImport(Library, EntryPoint = "usearch_free")]
    internal static partial void Free(nint index, out nint error);

    [LibraryImport(Library, EntryPoint = "usearch_save", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial void Save(UsearchHandle index, string path, out nint error);

    [LibraryImport(Library, EntryPoint = "usearch_load", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial void Load(UsearchHandle index, string path, out nint error);

    [LibraryImport(Library, EntryPoint = "usearch_view", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial void View(UsearchHandle index, string path, out nint error);

    [LibraryImport(Library, EntryPoint = "usearch_metadata", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial void Metadata(string path, ref InitOptions options, out nint error);

    [LibraryImport(Library, EntryPoint = "usearch_serialized_length")]
    internal static partial nuint SerializedLength(UsearchHandle index, out nint error);

    [LibraryImport(Library, EntryPoint = "usearch_memory_usage")]
    internal static partial nuint MemoryUsage(UsearchHandle index, out nint error);

    [LibraryImport(Library, EntryPoint = "usearch_hardware_acceleration")]
    internal static partial nint HardwareAcceleration(UsearchHandle index, out nint error);

    [LibraryImport(Library, EntryPoint = "usearch_size")]
    internal static partial nuint Size(UsearchHandle index, out nint error);

    [LibraryImport(Library, EntryPoint = "usearch_capacity")]
    internal static partial nuint Capacity(UsearchHandle index, out nint error);

    [LibraryImport(Library, EntryPoint = "usearch_dimensions")]
    internal static partial nuint Dimensions(UsearchHandle index, out nint error);

    [LibraryImport(Library, EntryPoint = "usearch_reserve")]
    internal static partial void Reserve(UsearchHandle index, nuint capacity, out nint error);

    [LibraryImport(Library, EntryPoint = "usearch_change_expansion_add")]
    internal static partial void ChangeExpansionAdd(UsearchHandle index, nuint expansion, out nint error);

    [LibraryImport(Library, EntryPoint = "usearch_change_expansion_search")]
    internal static partial void ChangeExpansionSearch(UsearchHandle index, nuint expansion, out nint error);

    [LibraryImport(Library, EntryPoint = "usearch_change_threads_add")]
    internal static partial void ChangeThreadsAdd(UsearchHandle index, nuint threads, out nint error);

    [LibraryImport(Library, EntryPoint = "usearch_change_threads_search")]
    internal static partial void ChangeThreadsSearch(UsearchHandle index, nuint threads, out nint error);

    [LibraryImport(Library, EntryPoint = "usearch_add")]
    internal static unsafe partial void Add(UsearchHandle index, ulong key, float* vector, int vectorKind, out nint error);

    [LibraryImport(Library, EntryPoint = "usearch_contains")]
    [return: MarshalAs(UnmanagedType.U1)]
    internal static partial bool Contains(UsearchHandle index, ulong key, out nint error);

    [LibraryImport(Library, EntryPoint = "usearch_search")]
    internal static unsafe partial nuint Search(
        UsearchHandle index, float* query, int queryKind, nuint count, ulong* keys, float* distances, out nint error);

    /// <summary>
    /// <c>size_t usearch_filtered_search(index, void const* query, usearch_scalar_kind_t, size_t count,
    /// int (*filter)(usearch_key_t key, void* filter_state), void* filter_state, usearch_key_t* keys,
    /// usearch_distance_t* distances, usearch_error_t*)</c>: a non-zero filter result admits the key. The callback runs
    /// synchronously on the calling thread, once per candidate the graph walk considers.
    /// </summary>
    [LibraryImport(Library, EntryPoint = "usearch_filtered_search")]
    internal static unsafe partial nuint FilteredSearch(
        UsearchHandle index, float* query, int queryKind, nuint count, delegate* unmanaged[Cdecl]<ulong, nint, int> filter,
        nint filterState, ulong* keys, float* distances, out nint error);

    /// <summary>
    /// <c>size_t usearch_get(index, usearch_key_t key, size_t count, void* vector, usearch_scalar_kind_t, usearch_error_t*)</c>:
    /// copies the stored vector (converted to the requested scalar kind) and returns how many were found (0 or 1 here).
    /// </summary>
    [LibraryImport(Library, EntryPoint = "usearch_get")]
    internal static unsafe partial nuint Get(UsearchHandle index, ulong key, nuint count, void* vector, int vectorKind, out nint error);

    [LibraryImport(Library, EntryPoint = "usearch_remove")]
    internal static partial nuint Remove(UsearchHandle index, ulong key, out nint error);

    /// <summary>Throws <see cref="VectorIndexException"/> when a native call set its error out-parameter.</summary>
    internal static void ThrowIfError(nint error, string operation)
    {
        if (error != 0)
        {
            throw new VectorIndexException($"USearch {operation} failed: {Marshal.PtrToStringUTF8(error)}");
        }
    }

    internal static string? ReadString(nint text) => text == 0 ? null : Marshal.PtrToStringUTF8(text);
}

/// <summary>Owns a native <c>usearch_index_t</c>; released exactly once, also when the owner forgot to dispose.</summary>
internal sealed class UsearchHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public UsearchHandle()
        : base(ownsHandle: true)
    {
    }

    protected override bool ReleaseHandle()
    {
        NativeMethods.Free(handle, out var error);
        return error == 0;
    }
}
