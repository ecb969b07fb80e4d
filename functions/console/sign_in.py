"""Signing a person in with the analysts' user pool: InitiateAuth (USER_PASSWORD_AUTH), then the SOFTWARE_TOKEN_MFA
challenge answered with the code they typed. The pool is MFA-ON, so a password alone never yields a token.

The client is shared.adapters.aws.cognito_idp (unsigned: a user's sign-in needs no AWS credentials). Whatever went
wrong (unknown user, wrong password, wrong code, a challenge the console cannot answer such as a new password), the
person is told one thing, so the page does not confirm which usernames exist. Never logs a password, code or token.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from shared.adapters import aws

FAILED = "The username, password or authenticator code is not right. Check them and try again."
UNSUPPORTED = "This account needs setting up before it can use the console. Ask an administrator."
UNAVAILABLE = "Sign-in is not available just now. Try again in a moment."


class SignInRefused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Tokens:
    id_token: str
    expires_in: int


def client_id() -> str:
    value = os.environ.get("CONSOLE_CLIENT_ID", "")
    if not value:
        raise RuntimeError("CONSOLE_CLIENT_ID is not set (the template sets it to AnalystsUserPoolClient)")
    return value


def sign_in(username: str, password: str, code: str, cognito: Any = None) -> Tokens:
    cognito = cognito or aws.cognito_idp()
    app = client_id()
    try:
        answer = cognito.initiate_auth(
            AuthFlow="USER_PASSWORD_AUTH",
            ClientId=app,
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )
        if answer.get("ChallengeName") == "SOFTWARE_TOKEN_MFA":
            answer = cognito.respond_to_auth_challenge(
                ClientId=app,
                ChallengeName="SOFTWARE_TOKEN_MFA",
                Session=answer["Session"],
                ChallengeResponses={"USERNAME": username, "SOFTWARE_TOKEN_MFA_CODE": code},
            )
    except cognito.exceptions.ClientError as error:
        reason = error.response.get("Error", {}).get("Code", "")
        if reason in ("TooManyRequestsException", "InternalErrorException", "ServiceUnavailable"):
            raise SignInRefused(UNAVAILABLE) from None
        raise SignInRefused(FAILED) from None
    result = answer.get("AuthenticationResult")
    if not result:
        raise SignInRefused(UNSUPPORTED)
    return Tokens(str(result["IdToken"]), int(result.get("ExpiresIn", 3600)))
