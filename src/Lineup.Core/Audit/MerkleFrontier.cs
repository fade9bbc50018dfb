using System.Numerics;

namespace Lineup.Core.Audit;

/// <summary>
/// The right edge of an append-only Merkle tree: the roots of its perfect subtrees, largest first, one per set bit of the
/// size (the "compact range" [0, n) of transparency-dev/merkle). Appending a leaf merges equal-sized subtrees like a
/// binary counter carries, so it costs O(log n) hashes, and the RFC 6962 root is the right fold of the subtree roots:
/// for n = 2^a + 2^b + … (a &gt; b &gt; …), MTH = H(N_a, H(N_b, …)) because RFC 6962 splits at the largest power of two.
/// </summary>
public sealed class MerkleFrontier
{
    private readonly List<byte[]> _nodes;

    public MerkleFrontier()
    {
        _nodes = [];
    }

    private MerkleFrontier(long size, List<byte[]> nodes)
    {
        Size = size;
        _nodes = nodes;
    }

    /// <summary>Leaves appended so far.</summary>
    public long Size { get; private set; }

    /// <summary>Appends the leaf with hash <paramref name="leafHash"/> (32 bytes).</summary>
    public void Append(ReadOnlySpan<byte> leafHash)
    {
        MerkleTree.RequireHash(leafHash, nameof(leafHash));
        var node = leafHash.ToArray();

        // Each set low bit of the size is a perfect subtree of the same height as the node being carried up.
        for (var size = Size; (size & 1) == 1; size >>= 1)
        {
            MerkleTree.HashChildren(_nodes[^1], node, node);
            _nodes.RemoveAt(_nodes.Count - 1);
        }

        _nodes.Add(node);
        Size++;
    }

    /// <summary>MTH of the leaves appended so far.</summary>
    public byte[] RootHash()
    {
        if (_nodes.Count == 0)
        {
            return MerkleTree.EmptyRoot;
        }

        var root = (byte[])_nodes[^1].Clone();
        for (var i = _nodes.Count - 2; i >= 0; i--)
        {
            MerkleTree.HashChildren(_nodes[i], root, root);
        }

        return root;
    }

    /// <summary>The subtree roots, largest first, concatenated (32 bytes each): what the catalog stores.</summary>
    public byte[] ToBytes()
    {
        var bytes = new byte[_nodes.Count * MerkleTree.HashSize];
        for (var i = 0; i < _nodes.Count; i++)
        {
            _nodes[i].CopyTo(bytes, i * MerkleTree.HashSize);
        }

        return bytes;
    }

    /// <summary>A frontier stored by <see cref="ToBytes"/>; refuses bytes that cannot be the frontier of <paramref name="size"/> leaves.</summary>
    public static MerkleFrontier FromBytes(long size, ReadOnlySpan<byte> nodes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        var expected = BitOperations.PopCount((ulong)size);
        if (nodes.Length != expected * MerkleTree.HashSize)
        {
            throw new FormatException($"A frontier of {size} leaves holds {expected} hashes ({expected * MerkleTree.HashSize} bytes); got {nodes.Length} bytes.");
        }

        var list = new List<byte[]>(expected);
        for (var i = 0; i < expected; i++)
        {
            list.Add(nodes.Slice(i * MerkleTree.HashSize, MerkleTree.HashSize).ToArray());
        }

        return new MerkleFrontier(size, list);
    }
}
