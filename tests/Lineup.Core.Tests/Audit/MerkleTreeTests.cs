using System.Security.Cryptography;
using Lineup.Core.Audit;

namespace Lineup.Core.Tests.Audit;

/// <summary>
/// RFC 6962 Merkle maths: the Certificate Transparency reference vectors, an independent literal transcription of the
/// RFC's MTH, PATH and PROOF for every tree up to 64 leaves, and corrupted proofs that must all be refused.
/// </summary>
public sealed class MerkleTreeTests
{
    private const int MaxLeaves = 64;

    // The reference leaves and tree heads of RFC 6962 implementations (transparency-dev/merkle proof/verify_test.go,
    // the same data as certificate-transparency-go's): data only.
    private static readonly string[] s_vectorLeaves =
    [
        "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f",
    ];

    private static readonly string[] s_vectorRoots =
    [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    public static TheoryData<long, long, string[]> InclusionVectors => new()
    {
        { 0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7", "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"] },
        { 5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b", "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0", "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"] },
        { 2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"] },
        { 1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d", "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"] },
        { 0, 1, [] },
    };

    public static TheoryData<long, long, string[]> ConsistencyVectors => new()
    {
        { 1, 1, [] },
        { 1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7", "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"] },
        { 6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a", "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0", "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"] },
        { 2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"] },
        { 6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a", "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f", "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"] },
    };

    private static byte[] VectorLeaves(int n) =>
        [.. s_vectorLeaves.Take(n).SelectMany(hex => MerkleTree.HashLeaf(Convert.FromHexString(hex)))];

    [Fact]
    public void Leaf_and_node_hashes_use_the_RFC_6962_prefixes()
    {
        var data = "lineup"u8.ToArray();
        Assert.Equal(SHA256.HashData([0x00, .. data]), MerkleTree.HashLeaf(data));
        var left = MerkleTree.HashLeaf("l"u8);
        var right = MerkleTree.HashLeaf("r"u8);
        Assert.Equal(SHA256.HashData([0x01, .. left, .. right]), MerkleTree.HashChildren(left, right));
        Assert.NotEqual(MerkleTree.HashChildren(left, right), MerkleTree.HashChildren(right, left));
        Assert.Equal(SHA256.HashData([]), MerkleTree.EmptyRoot);
        Assert.Throws<ArgumentException>(() => MerkleTree.HashChildren(left.AsSpan(1), right));
    }

    [Fact]
    public void The_split_point_is_the_largest_power_of_two_below_n_not_the_midpoint()
    {
        var expected = new Dictionary<long, long> { [2] = 1, [3] = 2, [4] = 2, [5] = 4, [6] = 4, [7] = 4, [8] = 4, [9] = 8, [1000] = 512, [1L << 40] = 1L << 39, [(1L << 40) + 1] = 1L << 40 };
        foreach (var (n, k) in expected)
        {
            Assert.Equal(k, MerkleTree.SplitPoint(n));
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => MerkleTree.SplitPoint(1));
    }

    [Fact]
    public void Roots_match_the_reference_tree_heads_for_every_size_0_to_8()
    {
        var frontier = new MerkleFrontier();
        var all = VectorLeaves(8);
        var hashes = new MerkleHashes(all);
        for (var n = 0; n <= 8; n++)
        {
            var leaves = VectorLeaves(n);
            Assert.Equal(s_vectorRoots[n], Convert.ToHexStringLower(MerkleTree.RootHash(leaves)));
            Assert.Equal(s_vectorRoots[n], Convert.ToHexStringLower(frontier.RootHash()));
            Assert.Equal(s_vectorRoots[n], Convert.ToHexStringLower(hashes.RootHash(n)));
            if (n < 8)
            {
                frontier.Append(all.AsSpan(n * 32, 32));
            }
        }
    }

    [Theory]
    [MemberData(nameof(InclusionVectors))]
    public void Inclusion_proofs_match_the_reference_vectors(long index, long size, string[] expected)
    {
        var leaves = VectorLeaves((int)size);
        var proof = MerkleTree.InclusionProof(leaves, index);
        Assert.Equal(expected, proof.Select(Convert.ToHexStringLower));
        Assert.Equal(expected, new MerkleHashes(VectorLeaves(8)).InclusionProof(index, size).Select(Convert.ToHexStringLower));
        var root = Convert.FromHexString(s_vectorRoots[size]);
        Assert.True(MerkleTree.VerifyInclusion(leaves.AsSpan((int)index * 32, 32), index, size, proof, root));
    }

    [Theory]
    [MemberData(nameof(ConsistencyVectors))]
    public void Consistency_proofs_match_the_reference_vectors(long oldSize, long newSize, string[] expected)
    {
        var leaves = VectorLeaves((int)newSize);
        var proof = MerkleTree.ConsistencyProof(leaves, oldSize);
        Assert.Equal(expected, proof.Select(Convert.ToHexStringLower));
        Assert.Equal(expected, new MerkleHashes(VectorLeaves(8)).ConsistencyProof(oldSize, newSize).Select(Convert.ToHexStringLower));
        Assert.True(MerkleTree.VerifyConsistency(
            oldSize, newSize, Convert.FromHexString(s_vectorRoots[oldSize]), Convert.FromHexString(s_vectorRoots[newSize]), proof));
    }

    [Fact]
    public void Every_root_and_proof_up_to_64_leaves_equals_a_literal_transcription_of_RFC_6962_and_verifies()
    {
        var data = Enumerable.Range(0, MaxLeaves).Select(i => SHA256.HashData(BitConverter.GetBytes(i * 7919))).ToList();
        var leafList = data.Select(d => Rfc.Leaf(d)).ToList();
        var allLeaves = leafList.SelectMany(l => l).ToArray();
        var hashes = new MerkleHashes(allLeaves);
        var frontier = new MerkleFrontier();
        var proofs = 0;
        for (var n = 0; n <= MaxLeaves; n++)
        {
            var leaves = allLeaves.AsSpan(0, n * 32).ToArray();
            var expectedRoot = Rfc.Mth(leafList.Take(n).ToList());
            Assert.Equal(expectedRoot, MerkleTree.RootHash(leaves));
            Assert.Equal(expectedRoot, hashes.RootHash(n));
            Assert.Equal(expectedRoot, frontier.RootHash());
            Assert.Equal(expectedRoot, MerkleFrontier.FromBytes(n, frontier.ToBytes()).RootHash());

            for (var m = 0; m < n; m++)
            {
                var expected = Rfc.Path(m, leafList.Take(n).ToList());
                var proof = MerkleTree.InclusionProof(leaves, m);
                Assert.Equal(expected, proof);
                Assert.Equal(expected, hashes.InclusionProof(m, n));
                Assert.True(MerkleTree.VerifyInclusion(leafList[m], m, n, proof, expectedRoot), $"inclusion {m}/{n}");
                proofs++;
            }

            for (var m = 0; m <= n; m++)
            {
                var expected = m == 0 ? [] : Rfc.Proof(m, leafList.Take(n).ToList());
                var proof = MerkleTree.ConsistencyProof(leaves, m);
                Assert.Equal(expected, proof);
                Assert.Equal(expected, hashes.ConsistencyProof(m, n));
                Assert.True(MerkleTree.VerifyConsistency(m, n, Rfc.Mth(leafList.Take(m).ToList()), expectedRoot, proof), $"consistency {m}->{n}");
                proofs++;
            }

            if (n < MaxLeaves)
            {
                frontier.Append(leafList[n]);
            }
        }

        Assert.Equal((MaxLeaves * (MaxLeaves + 1) / 2) + ((MaxLeaves + 1) * (MaxLeaves + 2) / 2), proofs);
    }

    [Fact]
    public void Every_corrupted_inclusion_proof_is_refused()
    {
        var leafList = Enumerable.Range(0, MaxLeaves).Select(i => MerkleTree.HashLeaf(BitConverter.GetBytes(i))).ToList();
        var allLeaves = leafList.SelectMany(l => l).ToArray();
        var hashes = new MerkleHashes(allLeaves);
        var other = MerkleTree.HashLeaf("other"u8);
        var checkedProbes = 0;
        for (var n = 1; n <= MaxLeaves; n++)
        {
            var root = hashes.RootHash(n);
            for (var i = 0; i < n; i++)
            {
                var leaf = leafList[i];
                var proof = hashes.InclusionProof(i, n);
                void Refused(long index, long size, byte[] leafHash, IReadOnlyList<byte[]> path, byte[] rootHash, string what)
                {
                    Assert.False(MerkleTree.VerifyInclusion(leafHash, index, size, path, rootHash), $"{what}: leaf {i} of {n}");
                    checkedProbes++;
                }

                // Wrong index: every other position in the tree.
                for (var j = 0; j < n; j++)
                {
                    if (j != i)
                    {
                        Refused(j, n, leaf, proof, root, $"index {j}");
                    }
                }

                Refused(-1, n, leaf, proof, root, "index -1");
                Refused(n, n, leaf, proof, root, "index n");

                // Wrong size: double and half, as transparency-dev checks (n + 1 can share a path shape and root with n).
                Refused(i, n * 2, leaf, proof, root, "size * 2");
                if (n / 2 > i)
                {
                    Refused(i, n / 2, leaf, proof, root, "size / 2");
                }

                Refused(i, n, other, proof, root, "wrong leaf");
                Refused(i, n, leaf, proof, MerkleTree.EmptyRoot, "empty root");
                Refused(i, n, leaf, proof, hashes.RootHash(n - 1 == 0 ? 0 : n - 1), "previous root");
                Refused(i, n, leaf, [.. proof, root], root, "trailing root");
                Refused(i, n, leaf, [root, .. proof], root, "preceding root");
                Refused(i, n, leaf, [.. proof, []], root, "trailing empty hash");
                if (proof.Length > 0)
                {
                    Refused(i, n, leaf, proof[..^1], root, "removed last");
                    Refused(i, n, leaf, proof[1..], root, "removed first");
                }

                // Single-bit flips: every bit of every element up to 16 leaves, eight spread bits per element beyond.
                for (var e = 0; e < proof.Length; e++)
                {
                    var bits = n <= 16 ? Enumerable.Range(0, 256) : Enumerable.Range(0, 8).Select(k => ((i * 31) + (e * 7) + (k * 33)) % 256);
                    foreach (var bit in bits)
                    {
                        Refused(i, n, leaf, Flip(proof, e, bit), root, $"bit {bit} of element {e}");
                    }
                }

                foreach (var bit in n <= 16 ? Enumerable.Range(0, 256) : [i % 256])
                {
                    Refused(i, n, Flip([leaf], 0, bit)[0], proof, root, $"leaf bit {bit}");
                    Refused(i, n, leaf, proof, Flip([root], 0, bit)[0], $"root bit {bit}");
                }
            }
        }

        Assert.True(checkedProbes > 200_000, $"{checkedProbes} probes");
    }

    [Fact]
    public void Every_corrupted_consistency_proof_is_refused()
    {
        var leafList = Enumerable.Range(0, MaxLeaves).Select(i => MerkleTree.HashLeaf(BitConverter.GetBytes(i * 3))).ToList();
        var hashes = new MerkleHashes(leafList.SelectMany(l => l).ToArray());
        var checkedProbes = 0;
        for (var n = 2; n <= MaxLeaves; n++)
        {
            var newRoot = hashes.RootHash(n);
            for (var m = 1; m < n; m++)
            {
                var oldRoot = hashes.RootHash(m);
                var proof = hashes.ConsistencyProof(m, n);
                Assert.NotEmpty(proof);
                void Refused(long oldSize, long newSize, byte[] first, byte[] second, IReadOnlyList<byte[]> path, string what)
                {
                    Assert.False(MerkleTree.VerifyConsistency(oldSize, newSize, first, second, path), $"{what}: {m} -> {n}");
                    checkedProbes++;
                }

                // Another old size, with the proof and roots of this one.
                for (var other = 0; other <= n; other++)
                {
                    if (other != m)
                    {
                        Refused(other, n, oldRoot, newRoot, proof, $"old size {other}");
                    }
                }

                // Wrong new size: double and half, as transparency-dev checks (n ± 1 can share a proof shape with n, and
                // pairing a size with another size's root is what the signed checkpoint already rules out).
                Refused(m, n * 2, oldRoot, newRoot, proof, "new size * 2");
                if (n / 2 > m)
                {
                    Refused(m, n / 2, oldRoot, newRoot, proof, "new size / 2");
                }
                Refused(n, m, newRoot, oldRoot, proof, "sizes swapped");
                Refused(m, n, newRoot, oldRoot, proof, "roots swapped");
                Refused(m, n, MerkleTree.EmptyRoot, newRoot, proof, "wrong old root");
                Refused(m, n, oldRoot, hashes.RootHash(n - 1), proof, "wrong new root");
                Refused(m, n, oldRoot, newRoot, [], "empty proof");
                Refused(m, n, oldRoot, newRoot, proof[..^1], "truncated");
                Refused(m, n, oldRoot, newRoot, [.. proof, newRoot], "trailing new root");
                Refused(m, n, oldRoot, newRoot, [.. proof, oldRoot], "trailing old root");
                Refused(m, n, oldRoot, newRoot, [oldRoot, .. proof], "preceding old root");
                Refused(m, n, oldRoot, newRoot, [proof[0], .. proof], "preceding first element");
                Refused(m, n, oldRoot, newRoot, [.. proof[..^1], proof[^1].AsSpan(0, 31).ToArray()], "short hash");

                for (var e = 0; e < proof.Length; e++)
                {
                    var bits = n <= 16 ? Enumerable.Range(0, 256) : Enumerable.Range(0, 8).Select(k => ((m * 31) + (e * 7) + (k * 33)) % 256);
                    foreach (var bit in bits)
                    {
                        Refused(m, n, oldRoot, newRoot, Flip(proof, e, bit), $"bit {bit} of element {e}");
                    }
                }

                foreach (var bit in n <= 16 ? Enumerable.Range(0, 256) : [m % 256])
                {
                    Refused(m, n, Flip([oldRoot], 0, bit)[0], newRoot, proof, $"old root bit {bit}");
                    Refused(m, n, oldRoot, Flip([newRoot], 0, bit)[0], proof, $"new root bit {bit}");
                }
            }
        }

        Assert.True(checkedProbes > 200_000, $"{checkedProbes} probes");
    }

    [Fact]
    public void The_degenerate_consistency_cases_follow_RFC_9162()
    {
        var root4 = MerkleTree.RootHash(VectorLeaves(4));
        var root5 = MerkleTree.RootHash(VectorLeaves(5));
        Assert.True(MerkleTree.VerifyConsistency(4, 4, root4, root4, []));
        Assert.False(MerkleTree.VerifyConsistency(4, 4, root4, root5, []));
        Assert.False(MerkleTree.VerifyConsistency(4, 4, root4, root4, [root4]));
        Assert.True(MerkleTree.VerifyConsistency(0, 5, MerkleTree.EmptyRoot, root5, []));
        Assert.False(MerkleTree.VerifyConsistency(0, 5, MerkleTree.EmptyRoot, root5, [root5]));
        Assert.False(MerkleTree.VerifyConsistency(5, 4, root5, root4, []));
        Assert.False(MerkleTree.VerifyConsistency(-1, 4, root4, root4, []));
    }

    [Fact]
    public void Proof_generation_refuses_positions_outside_the_tree()
    {
        var leaves = VectorLeaves(5);
        Assert.Throws<ArgumentOutOfRangeException>(() => MerkleTree.InclusionProof(leaves, 5));
        Assert.Throws<ArgumentOutOfRangeException>(() => MerkleTree.InclusionProof(leaves, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => MerkleTree.ConsistencyProof(leaves, 6));
        Assert.Throws<ArgumentException>(() => MerkleTree.RootHash(new byte[33]));
        var hashes = new MerkleHashes(leaves);
        Assert.Throws<ArgumentOutOfRangeException>(() => hashes.RootHash(6));
        Assert.Throws<ArgumentOutOfRangeException>(() => hashes.InclusionProof(3, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => hashes.ConsistencyProof(4, 3));
    }

    [Fact]
    public void A_stored_frontier_is_refused_when_it_cannot_be_the_right_edge_of_its_size()
    {
        var frontier = new MerkleFrontier();
        for (var i = 0; i < 11; i++)
        {
            frontier.Append(MerkleTree.HashLeaf([(byte)i]));
        }

        var bytes = frontier.ToBytes();
        Assert.Equal(3 * 32, bytes.Length); // 11 = 8 + 2 + 1
        var read = MerkleFrontier.FromBytes(11, bytes);
        Assert.Equal(frontier.RootHash(), read.RootHash());
        Assert.Equal(11, read.Size);
        Assert.Throws<FormatException>(() => MerkleFrontier.FromBytes(12, bytes));
        Assert.Throws<FormatException>(() => MerkleFrontier.FromBytes(11, bytes.AsSpan(0, 64)));

        // Appending after reading back continues the same tree.
        read.Append(MerkleTree.HashLeaf([11]));
        frontier.Append(MerkleTree.HashLeaf([11]));
        Assert.Equal(frontier.RootHash(), read.RootHash());
    }

    private static byte[][] Flip(IReadOnlyList<byte[]> proof, int element, int bit)
    {
        var copy = proof.Select(p => (byte[])p.Clone()).ToArray();
        copy[element][bit / 8] ^= (byte)(1 << (bit % 8));
        return copy;
    }

    /// <summary>RFC 6962 §2.1 written out literally with lists, independent of the production code.</summary>
    private static class Rfc
    {
        public static byte[] Leaf(byte[] data) => SHA256.HashData([0x00, .. data]);

        public static byte[] Node(byte[] left, byte[] right) => SHA256.HashData([0x01, .. left, .. right]);

        public static int K(int n)
        {
            var k = 1;
            while (k * 2 < n)
            {
                k *= 2;
            }

            return k;
        }

        public static byte[] Mth(List<byte[]> d)
        {
            if (d.Count == 0)
            {
                return SHA256.HashData([]);
            }

            if (d.Count == 1)
            {
                return d[0];
            }

            var k = K(d.Count);
            return Node(Mth(d[..k]), Mth(d[k..]));
        }

        public static List<byte[]> Path(int m, List<byte[]> d)
        {
            if (d.Count == 1)
            {
                return [];
            }

            var k = K(d.Count);
            return m < k ? [.. Path(m, d[..k]), Mth(d[k..])] : [.. Path(m - k, d[k..]), Mth(d[..k])];
        }

        public static List<byte[]> Proof(int m, List<byte[]> d) => SubProof(m, d, true);

        private static List<byte[]> SubProof(int m, List<byte[]> d, bool b)
        {
            if (m == d.Count)
            {
                return b ? [] : [Mth(d)];
            }

            var k = K(d.Count);
            return m <= k ? [.. SubProof(m, d[..k], b), Mth(d[k..])] : [.. SubProof(m - k, d[k..], false), Mth(d[..k])];
        }
    }
}
