using System.Buffers;
using System.Numerics;
using System.Security.Cryptography;

namespace Lineup.Core.Audit;

/// <summary>
/// The Merkle hash tree of RFC 6962 §2.1 over SHA-256, so that any Certificate Transparency tool can check the audit
/// log's proofs: leaf = SHA-256(0x00 ‖ data), node = SHA-256(0x01 ‖ left ‖ right), and the tree of n &gt; 1 leaves is
/// split at k, the largest power of two smaller than n (not at the midpoint: a midpoint split builds a valid-looking
/// tree that no other implementation agrees with). Inclusion proofs are RFC 6962's PATH, consistency proofs its PROOF;
/// both verifiers are the algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2.
/// </summary>
/// <remarks>
/// Leaf hashes are passed as one span of concatenated 32-byte hashes (leaf i at bytes [32i, 32i + 32)), so a tree of a
/// million leaves is one 32 MB buffer rather than a million arrays. Generating a proof from leaves hashes every leaf of
/// the tree once (O(n)); <see cref="MerkleHashes"/> keeps the interior nodes for O(log² n) proofs.
/// </remarks>
public static class MerkleTree
{
    public const int HashSize = 32;

    private const byte LeafPrefix = 0x00;
    private const byte NodePrefix = 0x01;

    private static readonly byte[] s_emptyRoot = SHA256.HashData(ReadOnlySpan<byte>.Empty);

    /// <summary>MTH({}) = SHA-256 of the empty string: the root of the empty tree.</summary>
    public static byte[] EmptyRoot => (byte[])s_emptyRoot.Clone();

    /// <summary>SHA-256(0x00 ‖ <paramref name="data"/>).</summary>
    public static byte[] HashLeaf(ReadOnlySpan<byte> data)
    {
        var hash = new byte[HashSize];
        HashLeaf(data, hash);
        return hash;
    }

    /// <inheritdoc cref="HashLeaf(ReadOnlySpan{byte})"/>
    public static void HashLeaf(ReadOnlySpan<byte> data, Span<byte> destination)
    {
        if (destination.Length < HashSize)
        {
            throw new ArgumentException($"The destination must hold {HashSize} bytes.", nameof(destination));
        }

        // One-shot hashing of a prefixed copy: an IncrementalHash per leaf (a native handle each) made verification
        // of a 10,000-event log spend most of its time creating and freeing hash objects.
        var length = data.Length + 1;
        byte[]? rented = null;
        var buffer = length <= 1024 ? stackalloc byte[length] : (rented = ArrayPool<byte>.Shared.Rent(length)).AsSpan(0, length);
        try
        {
            buffer[0] = LeafPrefix;
            data.CopyTo(buffer[1..]);
            SHA256.HashData(buffer, destination);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>SHA-256(0x01 ‖ <paramref name="left"/> ‖ <paramref name="right"/>).</summary>
    public static byte[] HashChildren(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right)
    {
        var hash = new byte[HashSize];
        HashChildren(left, right, hash);
        return hash;
    }

    /// <inheritdoc cref="HashChildren(ReadOnlySpan{byte}, ReadOnlySpan{byte})"/>
    public static void HashChildren(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right, Span<byte> destination)
    {
        RequireHash(left, nameof(left));
        RequireHash(right, nameof(right));
        Span<byte> node = stackalloc byte[1 + (2 * HashSize)];
        node[0] = NodePrefix;
        left.CopyTo(node[1..]);
        right.CopyTo(node[(1 + HashSize)..]);
        SHA256.HashData(node, destination);
    }

    /// <summary>The largest power of two strictly smaller than <paramref name="n"/> (n &gt; 1): RFC 6962's split point k.</summary>
    public static long SplitPoint(long n)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 2);
        return 1L << (63 - BitOperations.LeadingZeroCount((ulong)(n - 1)));
    }

    /// <summary>Number of leaves in <paramref name="leafHashes"/> (32 bytes each).</summary>
    public static long LeafCount(ReadOnlySpan<byte> leafHashes)
    {
        if (leafHashes.Length % HashSize != 0)
        {
            throw new ArgumentException($"Leaf hashes are {HashSize} bytes each; got {leafHashes.Length} bytes.", nameof(leafHashes));
        }

        return leafHashes.Length / HashSize;
    }

    /// <summary>MTH(D[n]) of the leaves whose hashes are given, by RFC 6962's recursion.</summary>
    public static byte[] RootHash(ReadOnlySpan<byte> leafHashes)
    {
        var n = LeafCount(leafHashes);
        if (n == 0)
        {
            return EmptyRoot;
        }

        var root = new byte[HashSize];
        SubtreeRoot(leafHashes, root);
        return root;
    }

    /// <summary>
    /// PATH(m, D[n]) of RFC 6962 §2.1.1: the audit path of leaf <paramref name="index"/> (0-based) in the tree of all
    /// given leaves, ordered from the leaf's sibling up to the root's child.
    /// </summary>
    public static byte[][] InclusionProof(ReadOnlySpan<byte> leafHashes, long index)
    {
        var n = LeafCount(leafHashes);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, n);
        var path = new List<byte[]>();
        Path(index, leafHashes, path);
        return [.. path];
    }

    /// <summary>
    /// PROOF(m, D[n]) of RFC 6962 §2.1.2: the consistency proof from the tree of the first <paramref name="oldSize"/>
    /// leaves to the tree of all given leaves. Empty when m = 0 or m = n (nothing to prove).
    /// </summary>
    public static byte[][] ConsistencyProof(ReadOnlySpan<byte> leafHashes, long oldSize)
    {
        var n = LeafCount(leafHashes);
        ArgumentOutOfRangeException.ThrowIfNegative(oldSize);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(oldSize, n);
        var proof = new List<byte[]>();
        if (oldSize > 0 && oldSize < n)
        {
            SubProof(oldSize, leafHashes, true, proof);
        }

        return [.. proof];
    }

    /// <summary>
    /// The root that an inclusion proof leads to (RFC 9162 §2.1.3.2), or null when the proof cannot belong to leaf
    /// <paramref name="index"/> of a tree of <paramref name="treeSize"/> (index out of range, wrong length, a hash that
    /// is not 32 bytes).
    /// </summary>
    public static byte[]? RootFromInclusionProof(ReadOnlySpan<byte> leafHash, long index, long treeSize, IReadOnlyList<byte[]> proof)
    {
        ArgumentNullException.ThrowIfNull(proof);
        if (index < 0 || index >= treeSize || leafHash.Length != HashSize)
        {
            return null;
        }

        var fn = index;
        var sn = treeSize - 1;
        var r = leafHash.ToArray();
        foreach (var p in proof)
        {
            if (sn == 0 || p is not { Length: HashSize })
            {
                return null;
            }

            if ((fn & 1) == 1 || fn == sn)
            {
                HashChildren(p, r, r);
                if ((fn & 1) == 0)
                {
                    while ((fn & 1) == 0 && fn != 0)
                    {
                        fn >>= 1;
                        sn >>= 1;
                    }
                }
            }
            else
            {
                HashChildren(r, p, r);
            }

            fn >>= 1;
            sn >>= 1;
        }

        return sn == 0 ? r : null;
    }

    /// <summary>Whether <paramref name="proof"/> shows leaf <paramref name="index"/> with <paramref name="leafHash"/> in the tree with <paramref name="root"/>.</summary>
    public static bool VerifyInclusion(ReadOnlySpan<byte> leafHash, long index, long treeSize, IReadOnlyList<byte[]> proof, ReadOnlySpan<byte> root) =>
        root.Length == HashSize
        && RootFromInclusionProof(leafHash, index, treeSize, proof) is { } computed
        && CryptographicOperations.FixedTimeEquals(computed, root);

    /// <summary>
    /// Whether <paramref name="proof"/> shows that the tree of <paramref name="newSize"/> leaves with root
    /// <paramref name="newRoot"/> extends the tree of <paramref name="oldSize"/> leaves with root
    /// <paramref name="oldRoot"/> (RFC 9162 §2.1.4.2). Equal sizes need equal roots and an empty proof; every tree
    /// extends the empty tree (empty proof).
    /// </summary>
    public static bool VerifyConsistency(long oldSize, long newSize, ReadOnlySpan<byte> oldRoot, ReadOnlySpan<byte> newRoot, IReadOnlyList<byte[]> proof)
    {
        ArgumentNullException.ThrowIfNull(proof);
        if (oldSize < 0 || newSize < oldSize || oldRoot.Length != HashSize || newRoot.Length != HashSize)
        {
            return false;
        }

        if (oldSize == newSize)
        {
            return proof.Count == 0 && CryptographicOperations.FixedTimeEquals(oldRoot, newRoot);
        }

        if (oldSize == 0)
        {
            return proof.Count == 0;
        }

        if (proof.Count == 0)
        {
            return false;
        }

        foreach (var p in proof)
        {
            if (p is not { Length: HashSize })
            {
                return false;
            }
        }

        // Step 2: when the old tree is a perfect subtree its root is the first node of the path, not part of the proof.
        var start = 0;
        byte[] seed;
        if (BitOperations.IsPow2(oldSize))
        {
            seed = oldRoot.ToArray();
        }
        else
        {
            seed = proof[0];
            start = 1;
        }

        var fn = oldSize - 1;
        var sn = newSize - 1;
        while ((fn & 1) == 1)
        {
            fn >>= 1;
            sn >>= 1;
        }

        var fr = (byte[])seed.Clone();
        var sr = (byte[])seed.Clone();
        for (var i = start; i < proof.Count; i++)
        {
            var c = proof[i];
            if (sn == 0)
            {
                return false;
            }

            if ((fn & 1) == 1 || fn == sn)
            {
                HashChildren(c, fr, fr);
                HashChildren(c, sr, sr);
                if ((fn & 1) == 0)
                {
                    while ((fn & 1) == 0 && fn != 0)
                    {
                        fn >>= 1;
                        sn >>= 1;
                    }
                }
            }
            else
            {
                HashChildren(sr, c, sr);
            }

            fn >>= 1;
            sn >>= 1;
        }

        return sn == 0
            && CryptographicOperations.FixedTimeEquals(fr, oldRoot)
            && CryptographicOperations.FixedTimeEquals(sr, newRoot);
    }

    internal static void RequireHash(ReadOnlySpan<byte> hash, string name)
    {
        if (hash.Length != HashSize)
        {
            throw new ArgumentException($"A hash is {HashSize} bytes; got {hash.Length}.", name);
        }
    }

    /// <summary>MTH of a non-empty run of leaves, written to <paramref name="destination"/>.</summary>
    private static void SubtreeRoot(ReadOnlySpan<byte> leaves, Span<byte> destination)
    {
        var n = leaves.Length / HashSize;
        if (n == 1)
        {
            leaves.CopyTo(destination);
            return;
        }

        var k = (int)SplitPoint(n);
        Span<byte> left = stackalloc byte[HashSize];
        Span<byte> right = stackalloc byte[HashSize];
        SubtreeRoot(leaves[..(k * HashSize)], left);
        SubtreeRoot(leaves[(k * HashSize)..], right);
        HashChildren(left, right, destination);
    }

    private static byte[] SubtreeRoot(ReadOnlySpan<byte> leaves)
    {
        var root = new byte[HashSize];
        SubtreeRoot(leaves, root);
        return root;
    }

    // PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n]) for m < k, and PATH(m - k, D[k:n]) : MTH(D[0:k]) otherwise.
    private static void Path(long m, ReadOnlySpan<byte> leaves, List<byte[]> path)
    {
        var n = leaves.Length / HashSize;
        if (n <= 1)
        {
            return;
        }

        var k = (int)SplitPoint(n);
        var split = k * HashSize;
        if (m < k)
        {
            Path(m, leaves[..split], path);
            path.Add(SubtreeRoot(leaves[split..]));
        }
        else
        {
            Path(m - k, leaves[split..], path);
            path.Add(SubtreeRoot(leaves[..split]));
        }
    }

    // SUBPROOF(m, D[n], b): [] when m = n and b; [MTH(D[n])] when m = n and not b; otherwise split at k and recurse
    // left (m <= k, appending MTH(D[k:n])) or right (m > k, appending MTH(D[0:k])).
    private static void SubProof(long m, ReadOnlySpan<byte> leaves, bool startFromOldRoot, List<byte[]> proof)
    {
        var n = leaves.Length / HashSize;
        if (m == n)
        {
            if (!startFromOldRoot)
            {
                proof.Add(SubtreeRoot(leaves));
            }

            return;
        }

        var k = (int)SplitPoint(n);
        var split = k * HashSize;
        if (m <= k)
        {
            SubProof(m, leaves[..split], startFromOldRoot, proof);
            proof.Add(SubtreeRoot(leaves[split..]));
        }
        else
        {
            SubProof(m - k, leaves[split..], false, proof);
            proof.Add(SubtreeRoot(leaves[..split]));
        }
    }
}
