using Npgsql;
using ShopGpt.Server.Http;

namespace ShopGpt.Server.Accounts;

/// <summary>
/// <c>POST /api/auth/register</c> sent with a guest's bearer token (issue 19): the guest user
/// itself becomes the account, in one transaction: it gets the credentials, stops being a
/// guest, and every guest session is deleted (the guest token stops working at once on every
/// instance); a new session is issued for the account.
///
/// Why in place rather than copying the guest's rows to a new user id: nothing has to move, so
/// nothing can be lost or duplicated, whatever per-user tables exist now or later
/// (conversations, messages, shortlist, feedback...), under Citus nothing crosses shards, and the
/// user id inside realtime leases and Redis keys stays valid. The answer's userId is the guest's.
/// </summary>
public static class GuestUpgrade
{
    /// <summary>The answer, or null when the caller is not a guest (then an ordinary registration follows).</summary>
    public static async Task<IResult?> TryAsync(NpgsqlDataSource db, SessionStore sessions, Guid guestId, string email, string passwordHash,
        string displayName, CancellationToken ct)
    {
        await using (var check = db.CreateCommand("select is_guest from users where user_id = $1"))
        {
            check.Parameters.AddWithValue(guestId);
            if (await check.ExecuteScalarAsync(ct) is not true) return null;
        }
        var revoked = await sessions.PrepareRevokeAllAsync(guestId, ct);
        await using (var conn = await db.OpenConnectionAsync(ct))
        await using (var tx = await conn.BeginTransactionAsync(ct))
        {
            await using var batch = new NpgsqlBatch(conn, tx)
            {
                BatchCommands =
                {
                    // Locks the guest row: two registrations from one guest cannot both win.
                    new("update users set is_guest = false, display_name = $2 where user_id = $1 and is_guest")
                    {
                        Parameters = { new() { Value = guestId }, new() { Value = displayName } },
                    },
                    new("insert into credentials (email, user_id, password_hash) values ($1, $2, $3) on conflict (email) do nothing")
                    {
                        Parameters = { new() { Value = email }, new() { Value = guestId }, new() { Value = passwordHash } },
                    },
                    new("delete from sessions where user_id = $1") { Parameters = { new() { Value = guestId } } },
                },
            };
            await batch.ExecuteNonQueryAsync(ct);
            if (batch.BatchCommands[0].RecordsAffected == 0)
            {
                // Another request upgraded this guest a moment ago: its token is gone now.
                await tx.RollbackAsync(ct);
                return ApiProblem.Create(401, "unauthorized", "This guest session has ended; sign in.");
            }
            if (batch.BatchCommands[1].RecordsAffected == 0)
            {
                await tx.RollbackAsync(ct);
                return ApiProblem.Create(409, "email_taken", "An account with this email already exists.");
            }
            await tx.CommitAsync(ct);
        }
        await sessions.ForgetAsync(revoked, ct);
        var (token, expires) = await sessions.CreateAsync(guestId, ct);
        return TypedResults.Created((string?)null, new AuthResponse(guestId, token, expires));
    }
}
