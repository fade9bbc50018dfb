using Lineup.Core.Indexing;

namespace Lineup.Index;

/// <summary>
/// Keeps the best <c>results.Length</c> hits in the caller's span as a min-heap (worst hit at the root), so a scan
/// costs O(n log k) and allocates nothing. Ties break towards the smaller key, which makes exact search deterministic.
/// </summary>
internal ref struct TopHits
{
    private readonly Span<VectorHit> _heap;
    private int _count;

    public TopHits(Span<VectorHit> results)
    {
        _heap = results;
        _count = 0;
    }

    /// <summary>The similarity a candidate must beat once the heap is full.</summary>
    public readonly float Threshold => _count < _heap.Length ? float.NegativeInfinity : _heap[0].Similarity;

    public void Offer(long key, float similarity)
    {
        if (_heap.Length == 0)
        {
            return;
        }

        var hit = new VectorHit(key, similarity);
        if (_count < _heap.Length)
        {
            _heap[_count] = hit;
            SiftUp(_count++);
        }
        else if (IsWorse(_heap[0], hit))
        {
            _heap[0] = hit;
            SiftDown(0);
        }
    }

    /// <summary>Sorts the kept hits best first; returns how many there are.</summary>
    public readonly int Complete()
    {
        _heap[.._count].Sort(static (a, b) => IsWorse(a, b) ? 1 : IsWorse(b, a) ? -1 : 0);
        return _count;
    }

    private static bool IsWorse(VectorHit a, VectorHit b) =>
        a.Similarity < b.Similarity || (a.Similarity == b.Similarity && a.Key > b.Key);

    private readonly void SiftUp(int i)
    {
        while (i > 0)
        {
            var parent = (i - 1) / 2;
            if (!IsWorse(_heap[i], _heap[parent]))
            {
                break;
            }

            (_heap[i], _heap[parent]) = (_heap[parent], _heap[i]);
            i = parent;
        }
    }

    private readonly void SiftDown(int i)
    {
        while (true)
        {
            var worst = i;
            var left = (2 * i) + 1;
            var right = left + 1;
            if (left < _count && IsWorse(_heap[left], _heap[worst]))
            {
                worst = left;
            }

            if (right < _count && IsWorse(_heap[right], _heap[worst]))
            {
                worst = right;
            }

            if (worst == i)
            {
                return;
            }

            (_heap[i], _heap[worst]) = (_heap[worst], _heap[i]);
            i = worst;
        }
    }
}
