using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.AI;

namespace ShopGpt.Tests.Assistant;

/// <summary>
/// An IChatClient the test drives step by step: each call takes the next <see cref="Script"/>
/// and streams exactly what the test pushes into it (chunks, an error, the end).
/// </summary>
public sealed class ScriptedChatClient : IChatClient
{
    private readonly ConcurrentQueue<Script> scripts = new();

    public Script Next()
    {
        var s = new Script();
        scripts.Enqueue(s);
        return s;
    }

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var text = "";
        await foreach (var u in GetStreamingResponseAsync(messages, options, cancellationToken)) text += u.Text;
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, text));
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (!scripts.TryDequeue(out var script)) throw new InvalidOperationException("No script for this call.");
        script.Started.TrySetResult(messages.ToList());
        using var reg = cancellationToken.Register(() => script.Cancelled.TrySetResult());
        await foreach (var step in script.Steps.Reader.ReadAllAsync(cancellationToken))
        {
            if (step is Exception e) throw e;
            yield return new ChatResponseUpdate(ChatRole.Assistant, (string)step);
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null) => null;

    public void Dispose()
    {
    }

    public sealed class Script
    {
        public Channel<object> Steps { get; } = Channel.CreateUnbounded<object>();

        public TaskCompletionSource<List<ChatMessage>> Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Cancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Say(string chunk) => Steps.Writer.TryWrite(chunk);

        public void Fail(Exception e) => Steps.Writer.TryWrite(e);

        public void End() => Steps.Writer.TryComplete();
    }
}
