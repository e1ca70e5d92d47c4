using System.Buffers.Binary;
using System.Numerics;

namespace ShopGpt.Server.Observability;

/// <summary>
/// Distinct-count estimate in fixed memory (2^precision bytes; 1 KiB at the default, ±3.3 %
/// standard error). Used for "active users" style gauges, where an exact set would grow with
/// the user base. Thread-safe: registers only ever grow, and a lost race loses one update of a
/// register that another thread raised anyway.
/// </summary>
public sealed class HyperLogLog
{
    private readonly byte[] registers;
    private readonly int precision;

    public HyperLogLog(int precision = 10)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(precision, 4);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(precision, 16);
        this.precision = precision;
        registers = new byte[1 << precision];
    }

    public void Add(Guid id)
    {
        Span<byte> bytes = stackalloc byte[16];
        id.TryWriteBytes(bytes);
        var hash = Mix(BinaryPrimitives.ReadUInt64LittleEndian(bytes) ^ Mix(BinaryPrimitives.ReadUInt64LittleEndian(bytes[8..])));
        var index = (int)(hash >> (64 - precision));
        var rest = (hash << precision) | (1UL << (precision - 1)); // guard bit bounds the rank
        var rank = (byte)(BitOperations.LeadingZeroCount(rest) + 1);
        if (registers[index] < rank) registers[index] = rank;
    }

    // SplitMix64 finaliser: UUIDv7s share their leading (time) bits, so they must be mixed well.
    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9UL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebUL;
        return z ^ (z >> 31);
    }

    public double Estimate()
    {
        var m = registers.Length;
        double sum = 0;
        var zeros = 0;
        foreach (var r in registers)
        {
            sum += Math.Pow(2, -r);
            if (r == 0) zeros++;
        }
        var alpha = 0.7213 / (1 + 1.079 / m);
        var e = alpha * m * m / sum;
        // Small-range correction (linear counting), as in the original paper.
        return e <= 2.5 * m && zeros > 0 ? m * Math.Log(m / (double)zeros) : e;
    }

    public void Clear() => Array.Clear(registers);

    /// <summary>A new sketch counting the union of two of the same precision.</summary>
    public static HyperLogLog Union(HyperLogLog a, HyperLogLog b)
    {
        var u = new HyperLogLog(a.precision);
        for (var i = 0; i < u.registers.Length; i++) u.registers[i] = Math.Max(a.registers[i], b.registers[i]);
        return u;
    }
}
