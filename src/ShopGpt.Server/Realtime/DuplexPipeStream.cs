using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace ShopGpt.Server.Realtime;

/// <summary>
/// The connection's transport pipes as the one <see cref="Stream"/> that
/// <see cref="System.Net.WebSockets.WebSocket.CreateFromStream(Stream, System.Net.WebSockets.WebSocketCreationOptions)"/>
/// needs, with nothing in between: no buffer of its own (Kestrel's input pipe allocates only
/// when data arrives), and a zero-byte read waits for data without consuming it, which is how
/// an idle WebSocket waits without holding a receive buffer.
/// </summary>
internal sealed class DuplexPipeStream(IDuplexPipe transport) : Stream
{
    private readonly PipeReader input = transport.Input;
    private readonly PipeWriter output = transport.Output;
    private volatile bool disposed;

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var result = await input.ReadAsync(cancellationToken);
        var data = result.Buffer;
        if (result.IsCanceled)
        {
            input.AdvanceTo(data.Start);
            // Only Dispose cancels a pending read (the WebSocket was aborted).
            throw new ObjectDisposedException(nameof(DuplexPipeStream));
        }
        var n = (int)Math.Min(buffer.Length, data.Length);
        // n == 0 with data: a zero-byte read saw data and leaves it all for the next read;
        // n == 0 without data and completed: end of stream.
        data.Slice(0, n).CopyTo(buffer.Span);
        input.AdvanceTo(data.GetPosition(n));
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var flush = await output.WriteAsync(buffer, cancellationToken);
        if (flush.IsCanceled) throw new ObjectDisposedException(nameof(DuplexPipeStream));
        if (flush.IsCompleted) throw new IOException("The connection was closed.");
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    // Every write is flushed by WriteAsync.
    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("Synchronous I/O is not supported.");

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("Synchronous I/O is not supported.");

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    /// <summary>
    /// WebSocket.Abort/Dispose end here: wake a pending read or flush so the socket's loops end.
    /// The pipes themselves belong to Kestrel, which completes them when the connection ends.
    /// </summary>
    protected override void Dispose(bool disposing)
    {
        if (disposing && !disposed)
        {
            disposed = true;
            input.CancelPendingRead();
            output.CancelPendingFlush();
        }
        base.Dispose(disposing);
    }
}
