-- Argo CD health check for the neon-operator.dev kinds (NeonProject, NeonBranch, NeonEndpoint, NeonRole,
-- NeonDatabase): all five report the same Ready and Synced conditions and observedGeneration, so one script
-- serves them. Ready says the Neon resource can be used; Synced says the last reconcile applied the spec.
-- Runs in Argo CD's Lua sandbox (no string library), so reasons are matched from an explicit list below; the
-- suite test/argocd checks that every reason the operator writes is classified on purpose.
--   Suspended    paused by the annotation neon-operator.dev/paused (condition Paused=True)
--   Healthy      Ready=True for the current spec (observedGeneration = metadata.generation), also when
--                Synced=False (a refused change to a working resource: the message says what was refused)
--   Progressing  no status yet, Ready Unknown, a spec change not yet acted on, being deleted, or Ready=False
--                while waiting for something that comes by itself (a parent, a Secret, Neon being busy)
--   Degraded     Ready=False for a reason that needs someone to act (invalid spec, refused API key, Neon
--                rejected the request, the Neon resource was deleted outside Kubernetes); Synced=False alone
--                never makes a usable resource Degraded

-- Ready=False reasons that resolve without anyone acting: waiting for a dependency or retrying. Any other
-- reason (InvalidSpec, ApiKeyMissing, NeonUnauthorized, NeonRejected, ProjectDeletedOutside, SecretConflict, …)
-- is Degraded.
local waiting = {
  ProjectNotReady = true,
  BranchNotReady = true,
  EndpointNotReady = true,
  RoleNotReady = true,
  DatabaseNotReady = true,
  ApiKeySecretNotFound = true,
  Adopting = true,
  NeonUnavailable = true,
  NeonOutcomeUnknown = true,
  BranchHasChildren = true,
  RoleOwnsDatabases = true,
  -- A branch or compute deleted in Neon behind the operator's back: it is being created again.
  DeletedOutside = true,
  -- A compute or database Neon is still creating.
  Provisioning = true,
  -- A branch being restored from its parent (reset-from-parent), or an anonymized branch being masked.
  Resetting = true,
  Anonymizing = true,
}

local hs = { status = "Progressing", message = "Waiting for the operator to reconcile" }

local function describe(condition)
  local reason = condition.reason or "Unknown"
  if condition.message ~= nil and condition.message ~= "" then
    return reason .. ": " .. condition.message
  end
  return reason
end

local metadata = obj.metadata or {}
local status = obj.status

-- Paused by the annotation neon-operator.dev/paused: the operator does nothing for it until the annotation goes.
if status ~= nil and status.conditions ~= nil then
  for _, condition in ipairs(status.conditions) do
    if condition.type == "Paused" and condition.status == "True" then
      hs.status = "Suspended"
      hs.message = describe(condition)
      return hs
    end
  end
end

if metadata.deletionTimestamp ~= nil then
  hs.message = "Being deleted: the operator is cleaning up in Neon"
  if status ~= nil and status.conditions ~= nil then
    for _, condition in ipairs(status.conditions) do
      if condition.type == "Ready" and condition.status == "False" then
        hs.message = "Being deleted: " .. describe(condition)
      end
    end
  end
  return hs
end

if status == nil or status.conditions == nil then
  return hs
end

local ready = nil
local synced = nil
for _, condition in ipairs(status.conditions) do
  if condition.type == "Ready" then
    ready = condition
  end
  if condition.type == "Synced" then
    synced = condition
  end
end
if ready == nil then
  return hs
end

-- A spec change the operator has not acted on yet: whatever Ready says is about the previous spec.
local generation = metadata.generation
local observed = status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.message = "Waiting for the operator to act on the latest spec (generation " .. generation .. ")"
  return hs
end

if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready)
  if synced ~= nil and synced.status == "False" then
    hs.message = hs.message .. "; the last change was not applied: " .. describe(synced)
  end
  return hs
end

if ready.status == "False" then
  hs.message = describe(ready)
  if waiting[ready.reason] then
    hs.status = "Progressing"
  else
    hs.status = "Degraded"
  end
  return hs
end

hs.message = describe(ready)
return hs
