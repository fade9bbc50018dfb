namespace Lineup.Core.Audit;

/// <summary>
/// Every perfect subtree hash of a tree held in memory (level h holds the roots of the aligned runs of 2^h leaves), so
/// that the root of any prefix and any proof costs O(log² n) hashes instead of rehashing the whole tree: used where many
/// proofs are asked of one tree (verifying every checkpoint against the latest). Building it costs n - 1 hashes and
/// about twice the leaves' memory. The proofs are the same RFC 6962 PATH and PROOF as <see cref="MerkleTree"/>'s.
/// </summary>
public sealed class MerkleHashes
{
    // _levels[h] holds (n >> h) hashes of 32 bytes: level 0 the leaves.
    private readonly List<byte[]> _levels = [];

    /// <param name="leafHashes">The leaf hashes, concatenated (32 bytes each).</param>
    public MerkleHashes(ReadOnlySpan<byte> leafHashes)
    {
        Size = MerkleTree.LeafCount(leafHashes);
        var level = leafHashes.ToArray();
        _levels.Add(level);
        while (level.Length >= 2 * MerkleTree.HashSize)
        {
            var count = level.Length / MerkleTree.HashSize / 2;
            var up = new byte[count * MerkleTree.HashSize];
            for (var i = 0; i < count; i++)
            {
                var at = 2 * i * MerkleTree.HashSize;
                MerkleTree.HashChildren(
                    level.AsSpan(at, MerkleTree.HashSize),
                    level.AsSpan(at + MerkleTree.HashSize, MerkleTree.HashSize),
                    up.AsSpan(i * MerkleTree.HashSize, MerkleTree.HashSize));
            }

            _levels.Add(up);
            level = up;
        }
    }

    public long Size { get; }

    /// <summary>The hash of leaf <paramref name="index"/>.</summary>
    public byte[] Leaf(long index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Size);
        return _levels[0].AsSpan((int)index * MerkleTree.HashSize, MerkleTree.HashSize).ToArray();
    }

    /// <summary>MTH of the first <paramref name="size"/> leaves.</summary>
    public byte[] RootHash(long size)
    {
        RequireSize(size);
        return size == 0 ? MerkleTree.EmptyRoot : Range(0, size);
    }

    /// <summary>PATH(index, D[size]): the inclusion proof of leaf <paramref name="index"/> in the tree of the first <paramref name="size"/> leaves.</summary>
    public byte[][] InclusionProof(long index, long size)
    {
        RequireSize(size);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, size);
        var path = new List<byte[]>();
        Path(index, 0, size, path);
        return [.. path];
    }

    /// <summary>PROOF(oldSize, D[newSize]): the consistency proof between two prefixes of this tree.</summary>
    public byte[][] ConsistencyProof(long oldSize, long newSize)
    {
        RequireSize(newSize);
        ArgumentOutOfRangeException.ThrowIfNegative(oldSize);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(oldSize, newSize);
        var proof = new List<byte[]>();
        if (oldSize > 0 && oldSize < newSize)
        {
            SubProof(oldSize, 0, newSize, true, proof);
        }

        return [.. proof];
    }

    private void RequireSize(long size)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(size, Size);
    }

    /// <summary>
    /// MTH of leaves [start, start + count). RFC 6962's recursion only ever starts a range at a multiple of its split
    /// point, so the left half is always a stored perfect subtree and only the right edge is hashed.
    /// </summary>
    private byte[] Range(long start, long count)
    {
        if ((count & (count - 1)) == 0 && start % count == 0)
        {
            var height = System.Numerics.BitOperations.Log2((ulong)count);
            return _levels[height].AsSpan((int)(start >> height) * MerkleTree.HashSize, MerkleTree.HashSize).ToArray();
        }

        var k = MerkleTree.SplitPoint(count);
        return MerkleTree.HashChildren(Range(start, k), Range(start + k, count - k));
    }

    private void Path(long m, long start, long n, List<byte[]> path)
    {
        if (n <= 1)
        {
            return;
        }

        var k = MerkleTree.SplitPoint(n);
        if (m < k)
        {
            Path(m, start, k, path);
            path.Add(Range(start + k, n - k));
        }
        else
        {
            Path(m - k, start + k, n - k, path);
            path.Add(Range(start, k));
        }
    }

    private void SubProof(long m, long start, long n, bool startFromOldRoot, List<byte[]> proof)
    {
        if (m == n)
        {
            if (!startFromOldRoot)
            {
                proof.Add(Range(start, n));
            }

            return;
        }

        var k = MerkleTree.SplitPoint(n);
        if (m <= k)
        {
            SubProof(m, start, k, startFromOldRoot, proof);
            proof.Add(Range(start + k, n - k));
        }
        else
        {
            SubProof(m - k, start + k, n - k, false, proof);
            proof.Add(Range(start, k));
        }
    }
}
